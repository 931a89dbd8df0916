"""The buyer x item interaction matrix: confidence from quantity and recency, then a weighting.

Rows are buyers and columns items (implicit's ``user_items`` convention). Confidence of a pair is
the sum over its purchase lines of ``quantity * 0.5 ** (age_days / half_life_days)``; the
weighting scheme then reshapes it:

* ``raw``: the confidence itself;
* ``log``: ``log1p(confidence)``, damping heavy repeat buyers (Hu, Koren & Volinsky 2008);
* ``bm25`` / ``tfidf``: implicit's BM25 and TF-IDF weights, with buyers as terms, which damps
  buyers who buy everything and normalises items by their sales. Their idf,
  ``log(N) - log1p(df)``, turns negative for a buyer of more than about a third of all items;
  weights are floored at ``MIN_WEIGHT`` so that a purchase never reads as a dislike;
* ``binary``: 1 for every pair bought, whatever the quantity or age (EASE's classic input);
* ``recency``: ``0.5 ** (age_days / half_life_days)`` of the pair's *latest* purchase, quantities
  ignored: what a buyer bought lately counts most, however much of it (``binary`` without a
  half-life). It needs the purchase times, so it is built by :func:`interaction_weights`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight, tfidf_weight

WEIGHTINGS = ("raw", "log", "bm25", "tfidf", "binary", "recency")
SIGNALS = ("view", "cart")  # events weighed by ``event_weights`` (see :func:`with_signals`)
SECONDS_PER_DAY = 86_400.0
MIN_WEIGHT = 1e-3
SMALLEST_CONFIDENCE = float(np.finfo(np.float32).tiny)  # the least a decayed purchase keeps


@dataclass(frozen=True)
class InteractionWeighting:
    """How purchases become confidences. ``half_life_days=None`` disables time decay."""

    scheme: str = "bm25"
    half_life_days: float | None = 365.0
    bm25_k1: float = 100.0
    bm25_b: float = 0.8

    def __post_init__(self):
        if self.scheme not in WEIGHTINGS:
            raise ValueError(f"weighting scheme must be one of {WEIGHTINGS}, got {self.scheme!r}")
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise ValueError(f"half_life_days must be positive or None, got {self.half_life_days!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def confidence_matrix(purchases: pd.DataFrame, shape: tuple[int, int], half_life_days: float | None = None,
                      reference_time: np.datetime64 | None = None) -> sp.csr_matrix:
    """Sum of (decayed) quantities per buyer and item, as float32 CSR of ``shape``.

    ``purchases`` needs categorical ``user_id`` and ``item_id`` (their codes are the row and
    column), ``quantity`` and ``timestamp``; ages are measured back from ``reference_time``
    (default: the last purchase).
    """
    users = purchases.user_id.cat.codes.to_numpy().astype(np.int64)
    items = purchases.item_id.cat.codes.to_numpy().astype(np.int64)
    values = purchases.quantity.to_numpy(dtype="float64")
    if half_life_days is not None and len(purchases):
        times = purchases.timestamp.to_numpy()
        reference = times.max() if reference_time is None else reference_time
        age_days = (reference - times).astype("timedelta64[s]").astype("float64") / SECONDS_PER_DAY
        decayed = values * np.exp2(-np.maximum(age_days, 0.0) / half_life_days)
        # a purchase never decays to nothing: float32 would round an old one's weight to 0 under a
        # short half-life, and the buyer would no longer have bought the item
        values = np.where(values > 0, np.maximum(decayed, SMALLEST_CONFIDENCE), decayed)
    matrix = sp.csr_matrix((values.astype("float32"), (users, items)), shape=shape, dtype="float32")
    matrix.sum_duplicates()
    return matrix


def recency_matrix(purchases: pd.DataFrame, shape: tuple[int, int], half_life_days: float | None = None,
                   reference_time: np.datetime64 | None = None) -> sp.csr_matrix:
    """``0.5 ** (age_days / half_life_days)`` of each pair's latest purchase (1 without a half-life),
    as float32 CSR of ``shape``; ``purchases`` as for :func:`confidence_matrix`."""
    users = purchases.user_id.cat.codes.to_numpy().astype(np.int64)
    items = purchases.item_id.cat.codes.to_numpy().astype(np.int64)
    pairs = users * shape[1] + items
    times = purchases.timestamp.to_numpy().astype("datetime64[s]")
    order = np.lexsort((times, pairs))  # by pair, latest purchase last
    last = order[np.r_[pairs[order][1:] != pairs[order][:-1], True]] if len(order) else order
    values = np.ones(len(last))
    if half_life_days is not None and len(last):
        reference = times.max() if reference_time is None else reference_time.astype("datetime64[s]")
        age_days = (reference - times[last]).astype("float64") / SECONDS_PER_DAY
        values = np.exp2(-np.maximum(age_days, 0.0) / half_life_days)
    matrix = sp.csr_matrix((values.astype("float32"), (users[last], items[last])), shape=shape, dtype="float32")
    np.maximum(matrix.data, MIN_WEIGHT, out=matrix.data)
    return matrix


def interaction_weights(purchases: pd.DataFrame, shape: tuple[int, int], weighting: InteractionWeighting,
                        reference_time: np.datetime64 | None = None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(confidence, weights)`` of the purchases: :func:`confidence_matrix` with the weighting's
    half-life, and the weights the models learn from (:func:`apply_weighting`, or
    :func:`recency_matrix` for the ``recency`` scheme)."""
    confidence = confidence_matrix(purchases, shape, weighting.half_life_days, reference_time)
    if weighting.scheme == "recency":
        return confidence, recency_matrix(purchases, shape, weighting.half_life_days, reference_time)
    return confidence, apply_weighting(confidence, weighting)


def apply_weighting(confidence: sp.csr_matrix, weighting: InteractionWeighting) -> sp.csr_matrix:
    """Reshape confidences by the weighting scheme; the result is float32 CSR, buyers x items.
    (``recency`` needs the purchase times: see :func:`interaction_weights`.)"""
    if weighting.scheme == "recency":
        raise ValueError("the recency weighting is built from purchase times: use interaction_weights")
    if weighting.scheme == "binary":
        weighted = sp.csr_matrix(confidence, copy=True)
        weighted.eliminate_zeros()
        weighted.data[:] = 1.0
    elif weighting.scheme == "raw":
        weighted = confidence.copy()
    elif weighting.scheme == "log":
        weighted = confidence.copy()
        weighted.data = np.log1p(weighted.data)
    elif weighting.scheme == "bm25":
        weighted = bm25_weight(confidence.T, K1=weighting.bm25_k1, B=weighting.bm25_b).T
    else:
        weighted = tfidf_weight(confidence.T).T
    weighted = sp.csr_matrix(weighted, dtype="float32")
    weighted.sum_duplicates()
    np.maximum(weighted.data, MIN_WEIGHT, out=weighted.data)
    return weighted


def check_event_weights(event_weights) -> dict[str, float]:
    """``event_weights`` as ``{type: weight}`` for every type of :data:`SIGNALS` (missing: 0);
    refuses other types and weights outside [0, 1]."""
    if not isinstance(event_weights, dict):
        raise ValueError(f"event_weights must be an object of weights per event type, got {event_weights!r}")
    unknown = sorted(set(event_weights) - set(SIGNALS))
    if unknown:
        raise ValueError(f"event_weights: unknown event type {unknown[0]!r}; weighed types: {', '.join(SIGNALS)}")
    for name, weight in event_weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise ValueError(f"event_weights: {name!r} must be a number in [0, 1], got {weight!r}")
    return {name: float(event_weights.get(name, 0.0)) for name in SIGNALS}


def with_signals(weights: sp.csr_matrix, signals: pd.DataFrame, users: pd.Index, items: pd.Index,
                 event_weights: dict[str, float], half_life_days: float | None = None,
                 reference_time: np.datetime64 | None = None) -> sp.csr_matrix:
    """The purchase ``weights`` (buyers x items, as the weighting made them) with the buyers' views
    and carts: a pair viewed or carted but not bought weighs, for the largest over its types, the
    type's ``event_weights`` times ``0.5 ** (age_days / half_life_days)`` of its latest event of
    that type, times what a purchase of the item typically weighs (the mean of its nonzero
    weights; of all weights for an item nobody bought). So a weight of 0.2 makes a fresh view a
    fifth of a purchase whatever the weighting scheme. Bought pairs keep their weight; events of
    buyers without purchases (``users``) or of items outside the catalog (``items``) are left out."""
    user_codes = users.get_indexer(signals.user_id.astype(str))
    item_codes = items.get_indexer(signals.item_id.astype(str))
    known = (user_codes >= 0) & (item_codes >= 0)
    shape = weights.shape
    signal = sp.csr_matrix(shape, dtype=np.float32)
    for name, weight in event_weights.items():
        rows = known & (signals.type == name).to_numpy()
        if weight <= 0 or not rows.any():
            continue
        events = pd.DataFrame({"user_id": pd.Categorical.from_codes(user_codes[rows], categories=users),
                               "item_id": pd.Categorical.from_codes(item_codes[rows], categories=items),
                               "timestamp": signals.timestamp.to_numpy()[rows]})
        signal = signal.maximum(recency_matrix(events, shape, half_life_days, reference_time) * np.float32(weight))
    bought = sp.csr_matrix(weights, dtype=bool)
    signal = sp.csr_matrix(signal - signal.multiply(bought), dtype=np.float32)
    signal.eliminate_zeros()
    counts = np.diff(weights.tocsc().indptr)
    sums = np.asarray(weights.sum(axis=0)).ravel()
    overall = float(weights.data.mean()) if weights.nnz else 1.0
    typical = np.where(counts > 0, sums / np.maximum(counts, 1), overall).astype(np.float32)
    return sp.csr_matrix(weights + signal @ sp.diags(typical), dtype=np.float32)
