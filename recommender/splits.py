"""Temporal evaluation splits: train on the past, test on the last days, tune on a validation split.

``temporal_split(dataset, test_days)`` cuts at ``cutoff = last purchase - test_days``: purchases at
or before the cutoff train, purchases after it test (so the test holds exactly the last
``test_days`` days, ``(cutoff, last]``). ``validation_split(train, validation_days)`` makes the same
cut inside the training data only, so tuning never sees a test purchase.

Codes stay aligned across the splits:

* ``item_id`` categories are untouched (the catalog's item ids in catalog order), so item codes
  are catalog rows in every split, and the catalog itself is shared;
* ``user_id`` categories of the training split are its own buyers (in the original order), and the
  test split uses **the same categories**: by default it keeps only buyers seen in training (the
  ones personalised metrics can score). With ``known_buyers_only=False`` it keeps every buyer and
  appends the new ones after the training buyers, so training codes are still a prefix.

Each split's ``reports`` are the source reports plus one line saying what the split dropped and
why (e.g. test lines of buyers not seen in training). Items first sold after the cutoff
(cold-start items, which only content features can rank) come from :func:`new_items`, and
:func:`relevance_matrix` turns a test split into the binary buyers x items matrix the metrics take.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.features.encoders import IdEncoder
from recommender.loaders import Dataset, LoadReport

BEFORE_CUTOFF = "before the cutoff (training split)"
AFTER_CUTOFF = "after the cutoff (held out)"
UNSEEN_BUYERS = "buyer not seen in training"


def _check_days(days: float, name: str) -> pd.Timedelta:
    if isinstance(days, bool) or not isinstance(days, numbers.Real) or not np.isfinite(days) or days <= 0:
        raise ValueError(f"{name} must be a positive number of days, got {days!r}")
    return pd.Timedelta(days=float(days))


def _span(times: pd.Series) -> str:
    first, last = times.min(), times.max()
    return f"{first} .. {last}, {(last - first) / pd.Timedelta(days=1):.1f} days"


def _cut(dataset: Dataset, days, name: str, held_name: str, cutoff,
         known_buyers_only: bool) -> tuple[Dataset, Dataset, pd.Timestamp]:
    purchases = dataset.purchases
    if purchases.empty:
        raise ValueError(f"cannot split for {held_name}: the data set has no purchases")
    if cutoff is None:
        cutoff = purchases.timestamp.max() - _check_days(days, name)
    else:
        cutoff = pd.Timestamp(cutoff)
        if cutoff.tzinfo is not None:
            cutoff = cutoff.tz_convert("UTC").tz_localize(None)
    times = purchases.timestamp
    before = (times <= cutoff).to_numpy()
    n_before = int(before.sum())
    what = f"{name}={days!r}" if days is not None else f"cutoff {cutoff}"
    if n_before == 0:
        raise ValueError(f"{what} leaves nothing to train on: the cutoff {cutoff} is before the first purchase "
                         f"(purchases span {_span(times)}); use fewer {held_name} days")
    if n_before == len(purchases):
        raise ValueError(f"{what} leaves the {held_name} split empty: no purchase after the cutoff {cutoff} "
                         f"(purchases span {_span(times)})")

    train = purchases[before].reset_index(drop=True)
    train["user_id"] = train.user_id.cat.remove_unused_categories()
    users = train.user_id.cat.categories

    held = purchases[~before].reset_index(drop=True)
    seen = held.user_id.isin(users).to_numpy()
    n_unseen = int((~seen).sum())
    if known_buyers_only:
        held = held[seen].reset_index(drop=True)
        if held.empty:
            raise ValueError(f"{what}: none of the {int((~before).sum()):,} {held_name} purchases after the "
                             f"cutoff {cutoff} is by a buyer seen in training, so there is nothing to score")
        held["user_id"] = held.user_id.cat.set_categories(users)
    else:
        new = held.user_id.cat.remove_unused_categories().cat.categories.difference(users, sort=False)
        held["user_id"] = held.user_id.cat.set_categories(users.append(new))

    train_report = LoadReport(f"{held_name} split at {cutoff}, training side", len(purchases),
                              {AFTER_CUTOFF: len(purchases) - n_before})
    dropped = {BEFORE_CUTOFF: n_before}
    if known_buyers_only:
        dropped[UNSEEN_BUYERS] = n_unseen
    held_report = LoadReport(f"{held_name} split at {cutoff}, {held_name} side", len(purchases), dropped)
    if not known_buyers_only and n_unseen:
        held_report.notes.append(f"{n_unseen:,} lines by {len(new):,} buyers not seen in training "
                                 f"(codes from {len(users):,} on)")
    reports = list(dataset.reports)
    signals = dataset.signals  # views and carts: the training side's only, so nothing after the cutoff leaks
    train_signals = None if signals is None else signals[(signals.timestamp <= cutoff).to_numpy()]
    return (Dataset(train, dataset.catalog, reports + [train_report], train_signals),
            Dataset(held, dataset.catalog, reports + [held_report]), cutoff)


def temporal_split(dataset: Dataset, test_days: float = 30, *, cutoff=None,
                   known_buyers_only: bool = True) -> tuple[Dataset, Dataset]:
    """Split by time: the last ``test_days`` days test, everything before trains.

    ``cutoff`` (a time, UTC) overrides ``test_days``: purchases at or before it train. The test
    split keeps only buyers seen in training unless ``known_buyers_only=False`` (see the module
    notes for how codes stay aligned). Raises ``ValueError`` when either split would be empty.
    """
    train, test, _ = _cut(dataset, None if cutoff is not None else test_days, "test_days", "test", cutoff,
                          known_buyers_only)
    return train, test


def validation_split(train: Dataset, validation_days: float, *, known_buyers_only: bool = True
                     ) -> tuple[Dataset, Dataset]:
    """Carve ``(fit, validation)`` from a training split the way :func:`temporal_split` carves
    ``(train, test)``: the last ``validation_days`` days of the training data validate. Only the
    training data is read, so the test split is never touched."""
    return _cut(train, validation_days, "validation_days", "validation", None, known_buyers_only)[:2]


def check_time_order(train: Dataset, held_out: Dataset) -> None:
    """Raise ``ValueError`` unless every held-out purchase is later than every training purchase
    (a guard against leakage when splits are made by hand)."""
    last, first = train.purchases.timestamp.max(), held_out.purchases.timestamp.min()
    if not first > last:
        raise ValueError(f"the splits overlap in time: a held-out purchase at {first} is not after the "
                         f"last training purchase at {last}")


def _same_items(a: Dataset, b: Dataset) -> None:
    if not a.purchases.item_id.cat.categories.equals(b.purchases.item_id.cat.categories):
        raise ValueError("the two splits have different item categories, so their item codes do not align")


def new_items(train: Dataset, test: Dataset) -> np.ndarray:
    """Item codes (sorted, int64) bought in ``test`` but never in ``train``: cold-start items.

    Use a test split made with ``known_buyers_only=False`` to count the items first bought by new
    buyers too.
    """
    _same_items(train, test)
    sold = np.unique(train.purchases.item_id.cat.codes.to_numpy())
    later = np.unique(test.purchases.item_id.cat.codes.to_numpy())
    return np.setdiff1d(later, sold, assume_unique=True).astype(np.int64)


def relevance_matrix(held_out: Dataset, users: IdEncoder | Sequence[str] | pd.Index,
                     n_items: int | None = None, already_bought: sp.csr_matrix | None = None) -> sp.csr_matrix:
    """Held-out purchases as a binary float32 CSR matrix, buyers x items.

    With ``already_bought`` (buyers x items, e.g. ``TrainingData.purchased``), items a buyer had
    bought before are left out: recommendations exclude them, so they cannot be hit.

    Rows follow ``users`` (the training user encoder, e.g. ``TrainingData.users``, or its ids in
    code order); purchases by buyers it does not know are left out. Columns are item codes (catalog
    rows); ``n_items`` defaults to the number of item categories. Buyers without held-out purchases
    have empty rows, which the metrics leave out of their means.
    """
    encoder = users if isinstance(users, IdEncoder) else IdEncoder(users)
    purchases = held_out.purchases
    n_items = len(purchases.item_id.cat.categories) if n_items is None else n_items
    # encode each distinct buyer once, then map line codes through it
    category_rows = encoder.encode(purchases.user_id.cat.categories)
    rows = category_rows[purchases.user_id.cat.codes.to_numpy().astype(np.int64)]
    items = purchases.item_id.cat.codes.to_numpy().astype(np.int64)
    keep = (rows >= 0) & (items >= 0)
    if keep.any() and items[keep].max() >= n_items:
        raise ValueError(f"held-out item code {int(items[keep].max())} is outside n_items={n_items}")
    matrix = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], items[keep])),
                           shape=(len(encoder), n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    if already_bought is not None:
        matrix = sp.csr_matrix(matrix - matrix.multiply(already_bought))
        matrix.eliminate_zeros()
    return matrix
