"""Each buyer's purchase history of each item, by day: what repeat timing is learned from.

A buyer who bought an item on several days has an interval between those purchases; an item's
buyers' intervals say how long it lasts (a bag of rice, a tin of tea). :func:`pair_history`
gathers, for every (buyer, item) pair bought before a reference time, the number of distinct
purchase days, the days since the first and the last of them, and the purchase days decayed by a
half-life; :class:`PairHistory` holds them as arrays aligned with a buyers x items CSR pattern.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.features.context import buyer_places
from recommender.features.encoders import IdEncoder

SECONDS_PER_DAY = 86_400.0
DECAY_HALF_LIFE_DAYS = 90.0  # of the decayed purchase days repeat timing reads


@dataclass
class PairHistory:
    """Purchase days of every (buyer, item) pair bought before ``reference_time``, one entry per
    stored cell of ``pattern`` (buyers x items CSR, canonical order): ``days`` distinct purchase
    days, ``first_age`` and ``last_age`` days from the first and the last to the reference time,
    ``decayed`` the purchase days weighted ``0.5 ** (age / half_life_days)``, ``units`` the
    quantities bought (one per line without a ``quantity`` column)."""

    pattern: sp.csr_matrix
    days: np.ndarray
    first_age: np.ndarray
    last_age: np.ndarray
    decayed: np.ndarray
    units: np.ndarray
    reference_time: np.datetime64

    @property
    def buyers(self) -> np.ndarray:
        """The buyer code of each pair."""
        return np.repeat(np.arange(self.pattern.shape[0]), np.diff(self.pattern.indptr))

    @property
    def items(self) -> np.ndarray:
        """The item code of each pair."""
        return self.pattern.indices

    def on_pattern(self, values: np.ndarray) -> sp.csr_matrix:
        """``values`` (one per pair) as a buyers x items CSR matrix on the pairs' cells."""
        return sp.csr_matrix((values, self.pattern.indices, self.pattern.indptr), shape=self.pattern.shape)

    @property
    def mean_interval(self) -> np.ndarray:
        """Days between a pair's consecutive purchase days on average (NaN when bought on one day)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.days > 1, (self.first_age - self.last_age) / (self.days - 1), np.nan)


def pair_history(purchases: pd.DataFrame, users: IdEncoder, n_items: int,
                 half_life_days: float = DECAY_HALF_LIFE_DAYS,
                 reference_time: np.datetime64 | None = None) -> PairHistory:
    """The :class:`PairHistory` of ``purchases`` (categorical ``user_id`` and ``item_id``, whose
    item codes are columns, ``timestamp`` and optionally ``quantity``), buyers in the order of
    ``users`` (the purchases of buyers it does not know left out), ages counted back from
    ``reference_time`` (default: the last purchase) in whole days."""
    reference = pd.Timestamp(purchases.timestamp.max() if reference_time is None else reference_time)
    age = ((reference - purchases.timestamp).dt.total_seconds().to_numpy() / SECONDS_PER_DAY).clip(min=0.0)
    buyer_of_category = users.encode(purchases.user_id.cat.categories)
    units = purchases.quantity.to_numpy(np.float64) if "quantity" in purchases else np.ones(len(purchases))
    lines = pd.DataFrame({"buyer": buyer_of_category[purchases.user_id.cat.codes.to_numpy(np.int64)],
                          "item": purchases.item_id.cat.codes.to_numpy(np.int64),
                          "age": np.floor(age), "units": units})
    lines = lines[(lines.buyer >= 0) & (lines.item >= 0)]
    days = lines.groupby(["buyer", "item", "age"], sort=False).units.sum().reset_index()
    days["decayed"] = 0.5 ** (days.age / half_life_days)
    pairs = days.groupby(["buyer", "item"], sort=True).agg(days=("age", "size"), first_age=("age", "max"),
                                                           last_age=("age", "min"), decayed=("decayed", "sum"),
                                                           units=("units", "sum"))
    buyers = pairs.index.get_level_values(0).to_numpy()
    items = pairs.index.get_level_values(1).to_numpy()
    # sorted by (buyer, item), so the CSR's stored cells are in the frame's order
    pattern = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (buyers, items)), shape=(len(users), n_items))
    return PairHistory(pattern, pairs.days.to_numpy(np.float64), pairs.first_age.to_numpy(np.float64),
                       pairs.last_age.to_numpy(np.float64), pairs.decayed.to_numpy(np.float64),
                       pairs.units.to_numpy(np.float64), np.datetime64(reference.to_datetime64()))


@dataclass
class BuyerHistory:
    """What buy-again and audiences read of the purchases, buyers coded by one encoder: each
    (buyer, item) pair's :class:`PairHistory`, and each buyer's place (``places``: a code into
    ``place_names``, -1 when unknown; :func:`~recommender.features.context.buyer_places`)."""

    pairs: PairHistory
    places: np.ndarray
    place_names: list[str]


def buyer_history(purchases: pd.DataFrame, users: IdEncoder, n_items: int) -> BuyerHistory:
    """The :class:`BuyerHistory` of ``purchases`` (as :func:`pair_history` and
    :func:`~recommender.features.context.buyer_places` read them), buyers in the order of ``users``."""
    return BuyerHistory(pair_history(purchases, users, n_items), *buyer_places(purchases, users))


def bought_again(history: PairHistory, later: sp.csr_matrix) -> np.ndarray:
    """Per pair of ``history``, whether ``later`` (buyers x items, e.g. a validation window's
    purchases, same codes) holds it."""
    again = sp.csr_matrix(history.pattern + later.multiply(history.pattern).astype(bool))  # 2 where bought again
    again.sort_indices()
    return again.data > 1


def item_groups(catalog: pd.DataFrame) -> np.ndarray:
    """Each item's group code for shrinking its interval: its category (0 for an item without)."""
    if "category" not in catalog:
        return np.zeros(len(catalog), dtype=np.int64)
    return catalog.category.astype("category").cat.codes.to_numpy(np.int64) + 1


@dataclass
class AudienceSignals:
    """What audiences read of the purchase history besides the models' scores: per buyer,
    ``activity`` (log of one plus the decayed purchase days over all items) and ``recency`` (log of
    one plus the days since the last purchase); per item, ``newcomers`` (log of one plus the buyers
    whose first purchase of it fell in the last ``horizon_days``) and ``units`` (units bought per
    purchase day, what an expected buyer is expected to take)."""

    activity: np.ndarray
    recency: np.ndarray
    newcomers: np.ndarray
    units: np.ndarray
    horizon_days: float

    def widened(self, n_items: int) -> AudienceSignals:
        """The same signals over a catalog of ``n_items`` (items appended after training: no
        newcomers, the catalog's median units)."""
        added = n_items - len(self.newcomers)
        return AudienceSignals(self.activity, self.recency, np.pad(self.newcomers, (0, added)),
                               np.pad(self.units, (0, added), constant_values=float(np.median(self.units))),
                               self.horizon_days)


def audience_signals(history: PairHistory, horizon_days: float) -> AudienceSignals:
    """The :class:`AudienceSignals` of ``history``'s buyers and items."""
    n_buyers, n_items = history.pattern.shape
    buyers, items = history.buyers, history.items
    activity = np.bincount(buyers, weights=history.decayed, minlength=n_buyers)
    last = np.full(n_buyers, np.inf)
    np.minimum.at(last, buyers, history.last_age)
    recency = np.log1p(np.where(np.isfinite(last), last, history.first_age.max(initial=0.0)))
    newcomers = np.bincount(items[history.first_age < horizon_days], minlength=n_items)
    days = np.bincount(items, weights=history.days, minlength=n_items)
    units = np.bincount(items, weights=history.units, minlength=n_items)
    overall = history.units.sum() / history.days.sum() if history.days.sum() > 0 else 1.0
    per_day = np.divide(units, days, out=np.full(n_items, overall), where=days > 0)
    return AudienceSignals(np.log1p(activity).astype(np.float32), recency.astype(np.float32),
                           np.log1p(newcomers).astype(np.float32), per_day.astype(np.float32), float(horizon_days))
