"""Goods in season: when in the year each item sells, and how much that lifts it at a given date.

Lychee sells in June and July, pomegranates in the autumn, spring tea in April. An item's **seasonal
profile** is its share of purchases in each of the :data:`WEEKS` weeks of the year (purchase lines
counted, smoothed over neighbouring weeks with a Gaussian of :data:`SMOOTHING_WEEKS`, wrapping round
the new year), shrunk towards a prior with the weight of :data:`PRIOR_PURCHASES` purchases:

* the catalog's ``season`` (months, e.g. ``6-8``; :func:`recommender.columns.seasons`) where it names
  one: the market's weekly shares inside those months, :data:`OFF_SEASON` of them outside;
* else its category's profile (itself shrunk towards the whole market's the same way).

So a rarely bought item follows its category or its declared season, a well-sold one its own
purchases, and an item listed after training its category or season (:meth:`SeasonalProfiles.extended`).

Its **lift** in a week is its share there over the whole market's share of purchases in that week:
above 1 in season, below out of it, 1 where it sells as everything does (a Christmas peak of every
item lifts none). The engine ranks with the log of the lift, clipped to :data:`MAX_LOG_LIFT`
(:meth:`SeasonalProfiles.at`, :func:`in_season`); weeks the data never covered get no lift, unless the
catalog declares a season there. Profiles say something only where the data covers the weeks of a
past year: the training job weighs them only on a year or more of history, by a factor chosen on the
validation windows (:func:`training.train.choose_season`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

WEEKS = 52  # weeks of the year; the last takes the year's last one or two days too
SMOOTHING_WEEKS = 2.0  # standard deviation of the Gaussian smoothing the weekly counts
PRIOR_PURCHASES = 50.0  # an item's profile is half its own at this many purchases, half its prior's
OFF_SEASON = 0.1  # a declared season's weight outside its months, relative to inside
MAX_LOG_LIFT = 3.0  # |log lift| at most this (a lift from 1/20 to 20)
MIN_COVERAGE = 0.25  # a week whose market share is below this times an even share has no lift (not covered)
MIN_SEASON_DAYS = 364.0  # history the seasonal weight needs: 52 weeks, so a window's weeks were seen before


def week_of_year(times) -> np.ndarray:
    """The week of the year (0 .. :data:`WEEKS` - 1) of each of ``times`` (anything pandas reads as
    times): days 1-7 are week 0, and the year's last one or two days fall in the last week."""
    days = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(times))).dayofyear.to_numpy()
    return np.minimum((days - 1) // 7, WEEKS - 1).astype(np.int64)


def request_week(date=None) -> int:
    """The week of the year of a request's ``date`` (a date, a time or an ISO text; None: now, UTC)."""
    if date is None:  # the common case, without pandas: a precomputed list checks it per request
        return min((datetime.now(UTC).timetuple().tm_yday - 1) // 7, WEEKS - 1)
    return int(week_of_year(naive_utc(pd.Timestamp(date)))[0])


def naive_utc(stamp: pd.Timestamp) -> pd.Timestamp:
    """``stamp`` in UTC without its zone (a time without a zone is taken as UTC already)."""
    return stamp if stamp.tzinfo is None else stamp.tz_convert(UTC).tz_localize(None)


def season_weeks(masks: np.ndarray) -> np.ndarray:
    """The share of each week's days inside each 12-bit month mask (``len(masks)`` x :data:`WEEKS`,
    float64; a 365-day year), computed once per distinct mask."""
    days = pd.date_range("2001-01-01", "2001-12-31", freq="D")
    month_bits = 1 << (days.month.to_numpy() - 1)
    distinct, of_row = np.unique(np.asarray(masks, dtype=np.int64), return_inverse=True)
    weeks = week_of_year(days)
    inside = (distinct[:, None] & month_bits[None, :]) > 0
    shares = np.stack([np.bincount(weeks, weights=row, minlength=WEEKS) for row in inside.astype(np.float64)]
                      ) / np.bincount(weeks, minlength=WEEKS) if len(distinct) else np.zeros((0, WEEKS))
    return shares[of_row.reshape(-1)]


def catalog_seasons(catalog: pd.DataFrame) -> np.ndarray:
    """Each catalog row's declared season as a month mask (int64; 0 where none, or no ``season`` column)."""
    if "season" not in catalog:
        return np.zeros(len(catalog), dtype=np.int64)
    return pd.to_numeric(catalog["season"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)


def _category_codes(catalog: pd.DataFrame, categories: pd.Index) -> np.ndarray:
    """Each catalog row's position in ``categories`` (-1: none of them)."""
    if "category" not in catalog:
        return np.full(len(catalog), -1, dtype=np.int64)
    return categories.get_indexer(catalog["category"].astype(object).fillna("").astype(str))


@dataclass
class SeasonalProfiles:
    """Every item's log lift per week of the year (:data:`WEEKS` x items, float32: a week's column is
    one contiguous row), with what profiles items listed later: the categories' log lifts, the
    market's weekly shares and which weeks the data covered; ``last_time`` and ``days``: the end and
    the span of the purchases learnt from."""

    log_lift: np.ndarray
    categories: pd.Index
    category_log_lift: np.ndarray  # categories x WEEKS
    market: np.ndarray  # share of all purchases per week (WEEKS)
    covered: np.ndarray  # bool per week: the data had purchases enough there
    last_time: np.datetime64
    days: float

    @classmethod
    def fit(cls, purchases: pd.DataFrame, catalog: pd.DataFrame) -> SeasonalProfiles:
        """The profiles of ``catalog``'s items from ``purchases`` (``item_id`` categorical over the
        catalog's ids, in its order; ``timestamp``), one count per purchase line."""
        n_items = len(catalog)
        codes = purchases["item_id"].cat.codes.to_numpy(dtype=np.int64)
        times = purchases["timestamp"]
        weeks = week_of_year(times) if len(times) else np.zeros(0, dtype=np.int64)
        counts = np.bincount(codes * WEEKS + weeks, minlength=n_items * WEEKS).reshape(n_items, WEEKS)
        counts = gaussian_filter1d(counts.astype(np.float64), SMOOTHING_WEEKS, axis=1, mode="wrap")
        total = counts.sum(axis=0)
        market = total / total.sum() if total.sum() > 0 else np.full(WEEKS, 1.0 / WEEKS)
        covered = market >= MIN_COVERAGE / WEEKS
        categories = pd.Index(pd.unique(catalog["category"].astype(object).fillna("").astype(str))
                              if "category" in catalog else [], dtype=object)
        of_item = _category_codes(catalog, categories)
        by_category = np.zeros((len(categories), WEEKS))
        np.add.at(by_category, of_item[of_item >= 0], counts[of_item >= 0])
        category_shares = _shrunk(by_category, market[None, :])
        last = times.max() if len(times) else pd.Timestamp(0)
        days = (times.max() - times.min()) / pd.Timedelta(days=1) if len(times) else 0.0
        profiles = cls(np.zeros((WEEKS, 0), dtype=np.float32), categories,
                       _log_lift(category_shares, market, covered, None), market, covered,
                       np.datetime64(naive_utc(pd.Timestamp(last)), "s"), float(days))
        priors, declared = profiles._priors(catalog, category_shares)
        profiles.log_lift = _log_lift(_shrunk(counts, priors), market, covered, declared).T.copy()
        return profiles

    def _priors(self, catalog: pd.DataFrame, category_shares: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Each catalog row's prior weekly shares (its declared season's, else its category's, else the
        market's) and its declared season's weight per week (rows x :data:`WEEKS`; NaN where none)."""
        masks = catalog_seasons(catalog)
        of_item = _category_codes(catalog, self.categories)
        if category_shares is None:
            category_shares = self.market * np.exp(self.category_log_lift)
        priors = np.where((of_item >= 0)[:, None], category_shares[np.maximum(of_item, 0)] if len(category_shares)
                          else self.market, self.market)
        inside = season_weeks(masks)
        weight = OFF_SEASON + (1.0 - OFF_SEASON) * inside
        season_shares = self.market * weight
        season_shares /= np.maximum(season_shares.sum(axis=1, keepdims=True), 1e-12)
        has_season = masks > 0
        priors = np.where(has_season[:, None], season_shares, priors)
        declared = np.where(has_season[:, None], weight / np.maximum(weight.mean(axis=1, keepdims=True), 1e-12),
                            np.nan)
        return priors, declared

    def at(self, date=None) -> np.ndarray:
        """Every item's log lift (float32) in the week of ``date`` (see :func:`request_week`)."""
        return self.log_lift[request_week(date)]

    def extended(self, catalog: pd.DataFrame) -> SeasonalProfiles:
        """The same profiles over ``catalog``, whose rows past this one's items were listed after
        training: nobody bought them, so they follow their declared season or their category."""
        added = catalog.iloc[self.log_lift.shape[1]:]
        priors, declared = self._priors(added)
        lift = _log_lift(priors, self.market, self.covered, declared).T
        return SeasonalProfiles(np.ascontiguousarray(np.hstack([self.log_lift, lift]), dtype=np.float32),
                                self.categories, self.category_log_lift, self.market, self.covered, self.last_time,
                                self.days)


def _shrunk(counts: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Rows of weekly ``counts`` as shares, each shrunk towards its row of ``priors`` (shares) with the
    weight of :data:`PRIOR_PURCHASES` purchases."""
    return (counts + PRIOR_PURCHASES * priors) / (counts.sum(axis=1, keepdims=True) + PRIOR_PURCHASES)


def _log_lift(shares: np.ndarray, market: np.ndarray, covered: np.ndarray, declared: np.ndarray | None
              ) -> np.ndarray:
    """The clipped log of ``shares`` over the ``market``'s in the ``covered`` weeks (rows x weeks,
    float32); elsewhere the log of a ``declared`` season's weight where there is one, else 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.log(np.maximum(shares, 1e-12) / np.maximum(market, 1e-12))
        outside = np.zeros_like(lift) if declared is None else np.nan_to_num(np.log(np.maximum(declared, 1e-12)),
                                                                              nan=0.0)
    return np.clip(np.where(covered, lift, outside), -MAX_LOG_LIFT, MAX_LOG_LIFT).astype(np.float32)


def in_season(codes: np.ndarray, scores: np.ndarray, log_lift: np.ndarray, factor: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Candidates (item ``codes``, -1 padding, and their ``scores``, -inf unusable) re-scored for the
    season and re-sorted, best first: each score plus ``factor`` times the item's ``log_lift`` times
    the spread of its row's usable scores (max - min: the same factor moves any model's scores alike).
    An item listed twice in a row keeps its first copy; the others become padding, at the end."""
    scores = np.asarray(scores, dtype=np.float32)
    usable = (codes >= 0) & np.isfinite(scores)
    high = np.where(usable, scores, -np.inf).max(axis=1, initial=-np.inf, keepdims=True)
    low = np.where(usable, scores, np.inf).min(axis=1, initial=np.inf, keepdims=True)
    spread = np.where(np.isfinite(high - low), high - low, 0.0)
    adjusted = np.where(usable, scores + factor * spread * log_lift[np.maximum(codes, 0)], -np.inf)
    order = np.argsort(-adjusted, axis=1, kind="stable")
    codes, adjusted = (np.take_along_axis(part, order, axis=1) for part in (codes, adjusted))
    by_code = np.argsort(codes, axis=1, kind="stable")  # a code's copies side by side, the best first
    sorted_codes = np.take_along_axis(codes, by_code, axis=1)
    repeated = np.zeros(codes.shape, dtype=bool)
    later = (sorted_codes[:, 1:] == sorted_codes[:, :-1]) & (sorted_codes[:, 1:] >= 0)
    np.put_along_axis(repeated, by_code[:, 1:], later, axis=1)
    adjusted = np.where(repeated, -np.inf, adjusted)
    last = np.argsort(repeated, axis=1, kind="stable")
    codes, adjusted = (np.take_along_axis(part, last, axis=1) for part in (codes, adjusted))
    return np.where(np.isfinite(adjusted), codes, -1), adjusted.astype(np.float32)
