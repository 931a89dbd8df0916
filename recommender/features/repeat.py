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

from recommender.features.encoders import IdEncoder

SECONDS_PER_DAY = 86_400.0
DECAY_HALF_LIFE_DAYS = 90.0  # of the decayed purchase days repeat timing reads


@dataclass
class PairHistory:
    """Purchase days of every (buyer, item) pair bought before ``reference_time``, one entry per
    stored cell of ``pattern`` (buyers x items CSR, canonical order): ``days`` distinct purchase
    days, ``first_age`` and ``last_age`` days from the first and the last to the reference time,
    ``decayed`` the purchase days weighted ``0.5 ** (age / half_life_days)``."""

    pattern: sp.csr_matrix
    days: np.ndarray
    first_age: np.ndarray
    last_age: np.ndarray
    decayed: np.ndarray
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
    item codes are columns, and ``timestamp``), buyers in the order of ``users`` (the purchases of
    buyers it does not know left out), ages counted back from ``reference_time`` (default: the
    last purchase) in whole days."""
    reference = pd.Timestamp(purchases.timestamp.max() if reference_time is None else reference_time)
    age = ((reference - purchases.timestamp).dt.total_seconds().to_numpy() / SECONDS_PER_DAY).clip(min=0.0)
    buyer_of_category = users.encode(purchases.user_id.cat.categories)
    days = pd.DataFrame({"buyer": buyer_of_category[purchases.user_id.cat.codes.to_numpy(np.int64)],
                         "item": purchases.item_id.cat.codes.to_numpy(np.int64),
                         "age": np.floor(age)})
    days = days[(days.buyer >= 0) & (days.item >= 0)].drop_duplicates()
    days["decayed"] = 0.5 ** (days.age / half_life_days)
    pairs = days.groupby(["buyer", "item"], sort=True).agg(days=("age", "size"), first_age=("age", "max"),
                                                           last_age=("age", "min"), decayed=("decayed", "sum"))
    buyers = pairs.index.get_level_values(0).to_numpy()
    items = pairs.index.get_level_values(1).to_numpy()
    # sorted by (buyer, item), so the CSR's stored cells are in the frame's order
    pattern = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (buyers, items)), shape=(len(users), n_items))
    return PairHistory(pattern, pairs.days.to_numpy(np.float64), pairs.first_age.to_numpy(np.float64),
                       pairs.last_age.to_numpy(np.float64), pairs.decayed.to_numpy(np.float64),
                       np.datetime64(reference.to_datetime64()))


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
