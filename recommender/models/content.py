"""Content-based recommender: items alike in text and attributes, buyers matched by what they bought.

Every catalog item has an L2-normalised content row (TF-IDF text, category, region, merchant,
tags, price band: see :mod:`recommender.features.content`), so the dot product of two rows is
their cosine similarity. A buyer's *profile* is the history-weighted sum of the content rows of
the items bought, L2-normalised; an item's score is the cosine ``profile @ item_content.T``.

Because scores come from content alone, an item nobody has bought yet (it is in the catalog, so
it has a content row) is ranked like any other: this is the model that surfaces new produce and
handicrafts. Buyers with no history get a zero profile and all-zero scores; the popularity model
covers them.

Scoring a batch is a sparse x dense product restricted to the content features the batch's
profiles actually use (done in blocks of items), so no Python loop runs per buyer and the
(buyers x features) profile is never densified over the whole vocabulary.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.features.training_data import TrainingData, UserBatch
from recommender.models.base import Recommender
from recommender.ranking import top_k

PROFILES = ("weighted_mean", "mean")
ITEM_BLOCK = 2048  # items per sparse x dense product when scoring (keeps each block in cache)


def _check_items(items, n_items: int, who: str) -> np.ndarray:
    """Item codes as a 1-d int64 array, every code in ``0..n_items-1``."""
    codes = np.asarray(items)
    if codes.ndim == 0:
        codes = codes.reshape(1)
    if codes.ndim != 1:
        raise ValueError(f"{who}: item codes must be a 1-d array, got shape {codes.shape}")
    if codes.size and not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"{who}: item codes must be integers, got dtype {codes.dtype}")
    codes = codes.astype(np.int64, copy=False)
    bad = (codes < 0) | (codes >= n_items)
    if bad.any():
        raise ValueError(f"{who}: item code {int(codes[bad][0])} is out of range 0..{n_items - 1} "
                         f"({int(bad.sum())} bad codes)")
    return codes


def _check_k(k, who: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"{who}: k must be a non-negative integer, got {k!r}")
    return int(k)


def _check_history(batch: UserBatch, n_items: int, who: str) -> sp.csr_matrix:
    """The batch's history as float32 CSR of shape ``len(batch) x n_items``."""
    history = batch.history
    if not sp.issparse(history):
        history = sp.csr_matrix(np.atleast_2d(np.asarray(history, dtype=np.float32)))
    history = sp.csr_matrix(history, dtype=np.float32)
    if history.shape != (len(batch.users), n_items):
        raise ValueError(f"{who}: batch history has shape {history.shape}, expected "
                         f"({len(batch.users)}, {n_items}) (one row per buyer, one column per item)")
    if len(np.asarray(batch.tiers).reshape(-1)) != len(batch.users):
        raise ValueError(f"{who}: batch has {len(batch.users)} buyers but {len(batch.tiers)} tiers")
    if history.nnz and not np.isfinite(history.data).all():
        raise ValueError(f"{who}: batch history must be finite")
    return history


def _unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each row of a CSR matrix to unit L2 norm in place (all-zero rows stay zero)."""
    lengths = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    norms = np.sqrt(np.bincount(rows, weights=np.square(matrix.data, dtype=np.float64), minlength=matrix.shape[0]))
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    matrix.data = (matrix.data * scale[rows]).astype(np.float32)
    return matrix


class ContentRecommender(Recommender):
    """Recommend items whose content resembles what the buyer bought.

    Parameters
    ----------
    profile : {"weighted_mean", "mean"}
        How a buyer's profile combines the content rows of the items bought (negative history
        values, which some weightings can produce, count as 0).
        ``"weighted_mean"`` weights each item by the buyer's history value (the interaction
        weighting of :class:`TrainingData`, built on time-decayed quantities, so recent and
        repeated purchases count more), raised to the power ``recency``; ``"mean"`` counts every
        item bought once, equally. Either way the profile is L2-normalised, so scores are
        cosines in ``[0, 1]`` (content rows are non-negative).
    recency : float, default 1.0
        Exponent on the history values for ``profile="weighted_mean"``: 1 uses them as given,
        above 1 sharpens the profile towards the most recent / most repeated purchases, below 1
        flattens it (0 is the same as ``"mean"``). Ignored for ``"mean"``.

    Learned attributes
    ------------------
    item_content_ : scipy.sparse.csr_matrix, float32, items x features
        The L2-normalised content rows of the training catalog.
    n_items_ : int
    """

    def __init__(self, profile: str = "weighted_mean", recency: float = 1.0):
        self.profile = profile
        self.recency = recency

    def _check_params(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"ContentRecommender: profile must be one of {PROFILES}, got {self.profile!r}")
        if isinstance(self.recency, bool) or not isinstance(self.recency, (int, float, np.number)) \
                or not np.isfinite(self.recency) or self.recency < 0:
            raise ValueError(f"ContentRecommender: recency must be a finite number >= 0, got {self.recency!r}")

    def fit(self, data: TrainingData) -> "ContentRecommender":
        """Keep the catalog's content rows (every item, bought or not); no interactions are needed."""
        self._check_params()
        content = getattr(data, "item_content", None)
        if content is None or not sp.issparse(content):
            raise ValueError("ContentRecommender.fit: data.item_content must be a sparse matrix (TrainingData)")
        if content.shape[0] != data.n_items:
            raise ValueError(f"ContentRecommender.fit: item_content has {content.shape[0]} rows for "
                             f"{data.n_items} items")
        content = sp.csr_matrix(content, dtype=np.float32)
        # re-normalise defensively: cosine scores rely on unit rows (all-zero rows stay zero)
        self.item_content_ = _unit_rows(content.copy())
        self.item_content_.sort_indices()
        self.n_items_ = int(content.shape[0])
        return self

    def profiles(self, history: sp.csr_matrix) -> sp.csr_matrix:
        """Buyer profiles (buyers x features, CSR float32, L2-normalised rows) from weighted histories."""
        self.check_fitted()
        weights = sp.csr_matrix(history, dtype=np.float32, copy=True)
        weights.sum_duplicates()
        # weightings such as BM25 can give tiny negative values (a buyer of almost every item): no pull
        np.maximum(weights.data, 0.0, out=weights.data)
        weights.eliminate_zeros()
        if self.profile == "mean":
            weights.data[:] = 1.0
        elif self.recency != 1:
            weights.data = np.power(weights.data, np.float32(self.recency), dtype=np.float32)
        return _unit_rows(sp.csr_matrix(weights @ self.item_content_, dtype=np.float32))

    def _cosines(self, rows: sp.csr_matrix) -> np.ndarray:
        """``rows @ item_content_.T`` as dense float32 (len(rows) x items).

        Only the content features that ``rows`` use take part: ``rows`` is scattered into a dense
        (used features x rows) block and each block of items (CSR, those features only) is
        multiplied by it, a sparse x dense product written straight into the result. The loop
        runs over blocks of items, never over buyers.
        """
        n = rows.shape[0]
        scores = np.zeros((n, self.n_items_), dtype=np.float32)
        rows = sp.csr_matrix(rows, dtype=np.float32)
        rows.sum_duplicates()
        if rows.nnz == 0:
            return scores
        used = np.zeros(rows.shape[1], dtype=bool)
        used[rows.indices] = True
        active = np.flatnonzero(used)
        position = (np.cumsum(used) - 1)[rows.indices]  # feature -> row of ``dense``
        dense = np.zeros((len(active), n), dtype=np.float32)
        dense[position, np.repeat(np.arange(n), np.diff(rows.indptr))] = rows.data
        items = self.item_content_[:, active]
        for start in range(0, self.n_items_, ITEM_BLOCK):
            stop = min(start + ITEM_BLOCK, self.n_items_)
            scores[:, start:stop] = (items[start:stop] @ dense).T
        return scores

    def score(self, batch: UserBatch) -> np.ndarray:
        """Cosine of each buyer's content profile with every item (float32, buyers x items);
        all zeros for buyers without history."""
        self.check_fitted()
        history = _check_history(batch, self.n_items_, "ContentRecommender.score")
        return self._cosines(self.profiles(history))

    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items with the most similar content (cosine) to each of ``items``, the item
        itself excluded; works for items never bought. Availability is not filtered here."""
        self.check_fitted()
        codes = _check_items(items, self.n_items_, "ContentRecommender.similar_items")
        k = _check_k(k, "ContentRecommender.similar_items")
        scores = self._cosines(self.item_content_[codes])
        scores[np.arange(len(codes)), codes] = -np.inf
        return top_k(scores, k)
