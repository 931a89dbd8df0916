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

SECONDS_PER_DAY = 86_400.0


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

    @property
    def mean_interval(self) -> np.ndarray:
        """Days between a pair's consecutive purchase days on average (NaN when bought on one day)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.days > 1, (self.first_age - self.last_age) / (self.days - 1), np.nan)


def pair_history(purchases: pd.DataFrame, shape: tuple[int, int], half_life_days: float,
                 reference_time: np.datetime64 | None = None) -> PairHistory:
    """The :class:`PairHistory` of ``purchases`` (categorical ``user_id`` and ``item_id``, whose
    codes are rows and columns of ``shape``, and ``timestamp``), ages counted back from
    ``reference_time`` (default: the last purchase) in whole days."""
    reference = pd.Timestamp(purchases.timestamp.max() if reference_time is None else reference_time)
    age = ((reference - purchases.timestamp).dt.total_seconds().to_numpy() / SECONDS_PER_DAY).clip(min=0.0)
    days = pd.DataFrame({"buyer": purchases.user_id.cat.codes.to_numpy(np.int64),
                         "item": purchases.item_id.cat.codes.to_numpy(np.int64),
                         "age": np.floor(age)}).drop_duplicates()
    days["decayed"] = 0.5 ** (days.age / half_life_days)
    pairs = days.groupby(["buyer", "item"], sort=True).agg(days=("age", "size"), first_age=("age", "max"),
                                                           last_age=("age", "min"), decayed=("decayed", "sum"))
    buyers = pairs.index.get_level_values(0).to_numpy()
    items = pairs.index.get_level_values(1).to_numpy()
    order = np.arange(len(pairs), dtype=np.int64)
    pattern = sp.csr_matrix((order + 1, (buyers, items)), shape=shape)  # sorted by (buyer, item): canonical
    pattern.sort_indices()
    position = pattern.data.astype(np.int64) - 1
    pattern.data = np.ones(len(position), dtype=np.float32)
    return PairHistory(pattern, pairs.days.to_numpy(np.float64)[position], pairs.first_age.to_numpy()[position],
                       pairs.last_age.to_numpy()[position], pairs.decayed.to_numpy()[position],
                       np.datetime64(reference.to_datetime64()))
