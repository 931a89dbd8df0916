"""Demand series: units sold per period, per item or per item x city tier, zero-filled.

:func:`demand_panel` turns a loaded :class:`~recommender.loaders.Dataset` into a
:class:`DemandPanel`: a dense ``series x periods`` matrix of units (returns and cancellations are
already excluded by the loader) and one row per series describing it (item, tier, merchant,
category, price). Weeks start on Monday; days are UTC days. Only whole periods are kept: a first
or last period the data covers only in part (the data starts on a Wednesday, or stops on a
Friday) is dropped, so a half-observed week never looks like a slump. A series exists for every
item (x tier) with at least one unit sold in the kept periods.

When the data stops inside a period (a Saturday, for weeks), that **current period** is kept apart:
``current`` holds each series' units sold in it so far, and ``remaining_share`` the share of a
period's units the last year of history sold on the days still to come (Sundays alone: about
1/7). The forecast starts at the first whole period after the data's last day; the current period
is reported as its sales so far plus the forecast of its remaining days
(:meth:`~recommender.forecasting.views.Forecast.current_table`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recommender.columns import TEXT
from recommender.forecasting.calendar_features import PERIOD_DAYS
from recommender.loaders import Dataset

LEVELS = ("item", "item,city_tier")
SEASONS = {"W": 52, "D": 7}  # periods per season: a year of weeks, a week of days
RECENT = {"W": 13, "D": 28}  # periods of "recent" history: level, intermittency
EPOCH_MONDAY = 4  # 1970-01-01 was a Thursday: day 4 is a Monday (1970-01-05)


class ForecastInputError(ValueError):
    """The data or the request cannot make a forecast; the message says why."""


@dataclass
class DemandPanel:
    """Units per series and period: ``values[i, t]`` is series ``i``'s demand in period ``starts[t]``."""

    values: np.ndarray  # float64, series x periods
    starts: pd.DatetimeIndex  # period starts
    freq: str  # "W" or "D"
    series: pd.DataFrame  # one row per series: item_id, [city_tier], merchant_id, category, region, price, item_code
    current: np.ndarray | None = None  # units per series in the period the data covers in part (None: none)
    current_days: int = 0  # days of the current period the data covers
    remaining_share: float = 0.0  # share of a period's units sold on the current period's days not covered yet

    @property
    def lead(self) -> int:
        """Periods between the panel's end and the first whole period after the data: 1 when the data
        ends inside a period (the current period), else 0."""
        return int(self.current is not None)

    @property
    def n_series(self) -> int:
        return self.values.shape[0]

    @property
    def n_periods(self) -> int:
        return self.values.shape[1]

    @property
    def season(self) -> int:
        return SEASONS[self.freq]

    def future_starts(self, horizon: int) -> pd.DatetimeIndex:
        """Start dates of the ``horizon`` periods after the panel."""
        step = pd.Timedelta(days=PERIOD_DAYS[self.freq])
        return pd.DatetimeIndex([self.starts[-1] + step * (h + 1) for h in range(horizon)])

    def head(self, n_periods: int) -> DemandPanel:
        """The first ``n_periods`` periods (for backtests), without series that sold nothing in them."""
        values = self.values[:, :n_periods]
        sold = values.sum(axis=1) > 0
        return replace(self, values=values[sold], starts=self.starts[:n_periods],
                       series=self.series[sold].reset_index(drop=True), current=None, current_days=0,
                       remaining_share=0.0)

    def truncated(self, n_periods: int) -> DemandPanel:
        """The first ``n_periods`` periods of every series (validation windows keep the rows aligned)."""
        return replace(self, values=self.values[:, :n_periods], starts=self.starts[:n_periods], current=None,
                       current_days=0, remaining_share=0.0)

    def long_frame(self) -> pd.DataFrame:
        """The panel as statsforecast's long table: ``unique_id`` (the series' row), ``ds``, ``y``."""
        return pd.DataFrame({"unique_id": np.repeat(np.arange(self.n_series), self.n_periods),
                             "ds": np.tile(self.starts.to_numpy(), self.n_series), "y": self.values.reshape(-1)})

    def subset(self, rows: np.ndarray) -> DemandPanel:
        """The panel restricted to the series at ``rows`` (positions or a boolean mask)."""
        return replace(self, values=self.values[rows], series=self.series[rows].reset_index(drop=True),
                       current=None if self.current is None else self.current[rows])


def check_freq_and_level(freq: str, by: str) -> None:
    """Raise :class:`ForecastInputError` for an unknown period length or series level."""
    if freq not in PERIOD_DAYS:
        raise ForecastInputError(f"freq must be W (weekly) or D (daily), got {freq!r}")
    if by not in LEVELS:
        raise ForecastInputError(f"series level must be one of {', '.join(LEVELS)}, got {by!r}")


def _period_index(days: np.ndarray, freq: str) -> np.ndarray:
    """Period start (int days since the epoch) of each day."""
    if freq == "D":
        return days
    return days - (days - EPOCH_MONDAY) % 7


def demand_panel(dataset: Dataset, freq: str = "W", by: str = "item") -> DemandPanel:
    """Units per item (``by="item"``) or item x city tier (``"item,city_tier"``) and period."""
    check_freq_and_level(freq, by)
    purchases, catalog = dataset.purchases, dataset.catalog
    length = PERIOD_DAYS[freq]
    stamps = purchases.timestamp.to_numpy().astype("datetime64[s]")
    days = stamps.astype("datetime64[D]").astype(np.int64)
    periods = _period_index(days, freq)
    first, last = int(days.min()), int(days.max())
    start = int(_period_index(np.array([first]), freq)[0])
    start = start if start == first else start + length  # the first period only if the data covers it whole
    end = int(_period_index(np.array([last]), freq)[0])
    end = end + length if last == end + length - 1 else end  # the last period only if covered to its last day
    n_periods = (end - start) // length
    if n_periods < 1:
        raise ForecastInputError(f"the purchases cover {last - first + 1} days, less than one whole "
                                 f"{'week' if freq == 'W' else 'day'}")
    keep = (periods >= start) & (periods < end)
    item = purchases.item_id.cat.codes.to_numpy().astype(np.int64)
    tier = purchases.city_tier.to_numpy().astype(np.int64) if by == "item,city_tier" else np.zeros(len(item), np.int64)
    line_keys = item * 16 + tier
    quantity = purchases.quantity.to_numpy()
    keys, series_of_line = np.unique(line_keys[keep], return_inverse=True)
    column = (periods[keep] - start) // length
    values = np.bincount(series_of_line * n_periods + column, weights=quantity[keep],
                         minlength=len(keys) * n_periods).reshape(len(keys), n_periods)
    current = None
    current_days, remaining_share = last - end + 1, 0.0
    if end <= last:  # the data stops inside the period starting at `end`
        now = periods == end
        position = np.searchsorted(keys, line_keys[now])
        known = position < len(keys)
        known[known] = keys[position[known]] == line_keys[now][known]
        current = np.bincount(position[known], weights=quantity[now][known], minlength=len(keys)).astype(np.float64)
        year = keep & (periods >= end - 364)  # the last 52 weeks
        units = quantity[year].sum()
        later = quantity[year & (days - periods >= current_days)].sum()
        remaining_share = float(later / units) if units > 0 else (length - current_days) / length
    codes = keys // 16
    series = pd.DataFrame({"item_id": catalog.item_id.to_numpy()[codes]})
    if by == "item,city_tier":
        series["city_tier"] = (keys % 16).astype(np.int8)
    series["merchant_id"] = catalog.merchant_id.astype(TEXT).to_numpy()[codes]
    series["category"] = catalog.category.astype(TEXT).to_numpy()[codes]
    series["region"] = catalog.region.astype(TEXT).to_numpy()[codes]
    series["price"] = catalog.price.to_numpy()[codes]
    series["item_code"] = codes
    starts = pd.DatetimeIndex((start + np.arange(n_periods) * length).astype("datetime64[D]"))
    return DemandPanel(values.astype(np.float64), starts, freq, series, current,
                       current_days if current is not None else 0, remaining_share)


def group_sums(values: np.ndarray, inverse: np.ndarray, n_groups: int) -> np.ndarray:
    """The rows of ``values`` summed per group (``inverse``: each row's group, ``0..n_groups-1``)."""
    out = np.zeros((n_groups,) + values.shape[1:])
    np.add.at(out, inverse, values)
    return out


def recent_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean demand over the last ``window`` periods of each series (fewer when the history is shorter)."""
    window = min(window, values.shape[1])
    return values[:, -window:].mean(axis=1)


def series_scale(values: np.ndarray, freq: str) -> np.ndarray:
    """Each series' typical demand per period: its recent mean, floored at one unit per recent window
    (so a series that sold nothing lately still has a positive scale). Errors are divided by it
    to be pooled across series of different sizes."""
    window = RECENT[freq]
    return np.maximum(recent_mean(values, 2 * window), 1.0 / window)


def intermittency_bucket(values: np.ndarray, freq: str) -> np.ndarray:
    """0 for sparse series (sold in under 30% of recent periods), 1 for patchy, 2 for smooth (70%+)."""
    share = recent_mean(values > 0, RECENT[freq])
    return np.digitize(share, [0.3, 0.7]).astype(np.int64)
