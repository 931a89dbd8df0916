"""The base of item-item models: a buyer's scores are their history times a sparse items x items matrix.

A subclass says how similar item ``j`` is to item ``i`` (:meth:`ItemItemRecommender._item_similarity`:
EASE's regression weights, RP3beta's random-walk probabilities, implicit's cosine or BM25); the
base keeps, for every item, its ``neighbours`` largest positive weights (no weight towards itself),
divides every column ``j`` by ``max(buyers_j, 1) ** beta`` (``buyers_j``: training buyers of item
``j``), and stores the result as the CSR matrix ``weights_``. Then

* ``score(batch) = history @ weights_``: one sparse product, the cost of a buyer's purchases times
  ``neighbours``, never a dense items x items product;
* ``similar_items`` reads rows of ``weights_``;
* a purchase ``b`` explains item ``j`` when it has the largest weight ``weights_[b, j] > 0``.

Items nobody bought have no co-purchases; with ``map_cold_items`` (the default) each gets the
weights of the bought items closest to it in content (the catalog's content embedding, at most
:data:`COLD_NEIGHBOURS` of them with a positive cosine, weighted by it), towards it and from it,
so a new listing is offered to the buyers of goods like it: the item-item counterpart of the
factor models' content-to-factor mapping. For ``beta`` it counts as popular as those neighbours.

The popularity exponent ``beta`` is what RP3beta (Paudel et al. 2017) adds to a random walk, and
is worth as much to the other item-item models: it moves lists from the items every buyer already
knows towards the long tail, and on real purchase data it often makes them more accurate too. It is
applied after pruning, so models differing only in ``beta`` are one column scaling apart
(:meth:`ItemItemRecommender.with_beta`), which lets the model search try several without refitting.

Neither needs buyer factors, so a buyer unseen in training is scored from their history like any
other (no history: all zeros).
"""
from __future__ import annotations

import copy
from abc import abstractmethod
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.features.training_data import TrainingData, UserBatch
from recommender.models.base import Recommender
from recommender.models.checks import (
    check_added_items,
    check_batch,
    check_items,
    check_non_negative_int,
    check_number,
    check_positive_int,
    check_training_data,
    similar_from_rows,
    unit_rows,
)

BLOCK_CELLS = 1 << 24  # dense similarity cells handled at once while pruning (64 MB of float32)
PRUNING_THREADS = 2
COLD_NEIGHBOURS = 10  # bought items whose weights a never-bought item takes
# popularity exponents the model search scores on every item-item fit (``with_beta``, no refit)
POPULARITY_EXPONENTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


class ItemItemRecommender(Recommender):
    """Scores are ``history @ weights_``; subclasses implement :meth:`_item_similarity` and take the
    parameters ``beta`` (popularity exponent, >= 0), ``neighbours`` (weights kept per item) and
    ``map_cold_items`` (never-bought items take their content neighbours' weights).

    Learned attributes
    ------------------
    weights_ : scipy.sparse.csr_matrix, float32, items x items
        Row ``i``: at most ``neighbours`` items ``j`` with weight ``> 0`` (plus the never-bought
        items mapped from them), no diagonal.
    item_buyers_ : ndarray, int64 (n_items,)
        Training buyers of each item.
    scale_buyers_ : ndarray, float64 (n_items,)
        The popularity ``beta`` divides by: the buyers, or for a mapped never-bought item its
        content neighbours' (similarity-weighted mean).
    n_users_, n_items_ : int
    """

    beta: float  # parameters every subclass takes
    neighbours: int
    map_cold_items: bool

    @abstractmethod
    def _item_similarity(self, data: TrainingData, user_items: sp.csr_matrix) -> sp.csr_matrix:
        """Item-item weights (items x items, float32 CSR), pruned to at most ``neighbours`` per row,
        without the diagonal; :func:`prune_rows` does that for dense blocks."""

    def _check_params(self, who: str) -> None:
        """Raise ValueError on a bad parameter (subclasses check their own, then call this)."""
        check_number(self.beta, "beta", who)
        check_positive_int(self.neighbours, "neighbours", who)
        if not isinstance(self.map_cold_items, (bool, np.bool_)):
            raise ValueError(f"{who}: map_cold_items must be True or False, got {self.map_cold_items!r}")

    def fit(self, data: TrainingData) -> ItemItemRecommender:
        """Learn the item-item weights of ``data.user_items``, prune them and scale by popularity."""
        who = f"{type(self).__name__}.fit"
        self._check_params(who)
        user_items = check_training_data(data, who)
        self.n_users_, self.n_items_ = user_items.shape
        self.item_buyers_ = np.diff(user_items.tocsc().indptr).astype(np.int64)
        similarity = sp.csr_matrix(self._item_similarity(data, user_items), dtype=np.float32)
        self.scale_buyers_ = self.item_buyers_.astype(np.float64)
        if self.map_cold_items:
            similarity = self._map_cold_items(similarity, getattr(data, "item_embedding", None))
        self.weights_ = _scale_columns(similarity, self.column_scale(float(self.beta)))
        return self

    def _map_cold_items(self, weights: sp.csr_matrix, embedding: np.ndarray | None,
                        cold: np.ndarray | None = None) -> sp.csr_matrix:
        """``weights`` with every never-bought item of ``cold`` (default: all of them) given its
        content neighbours' rows and columns; their ``scale_buyers_`` become the neighbours'."""
        warm = np.flatnonzero(self.item_buyers_ > 0)
        cold = np.flatnonzero(self.item_buyers_ == 0) if cold is None else cold
        if embedding is None or len(cold) == 0 or len(warm) == 0 or np.shape(embedding)[0] != self.n_items_:
            return weights
        unit = unit_rows(np.asarray(embedding, dtype=np.float32))
        blocks = ((cold[rows], unit[cold[rows]] @ unit[warm].T) for rows in row_blocks(len(cold), len(warm)))
        mapping = prune_rows(blocks, self.n_items_, COLD_NEIGHBOURS, columns=warm)  # cold x warm similarities
        totals = np.asarray(mapping.sum(axis=1)).ravel()
        mapping = sp.csr_matrix(sp.diags(np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0))
                                @ mapping, dtype=np.float32)  # rows: a cold item's neighbours, weights summing to 1
        self.scale_buyers_ = self.scale_buyers_.copy()
        self.scale_buyers_[cold] = (mapping @ self.scale_buyers_)[cold]
        mapped = sp.csr_matrix(weights + mapping @ weights + weights @ mapping.T)  # neighbours' rows and columns
        mapped = mapped - sp.diags(mapped.diagonal())
        mapped.eliminate_zeros()
        return sp.csr_matrix(mapped, dtype=np.float32)

    def with_items(self, catalog: pd.DataFrame, embedding: np.ndarray) -> ItemItemRecommender:
        """A copy that also ranks the added items: with ``map_cold_items``, each takes the weights of
        the bought items closest to it in content, as never-bought items do in ``fit``; else none."""
        self.check_fitted()
        n_added = len(check_added_items(catalog, embedding, self.n_items_, f"{type(self).__name__}.with_items"))
        other = copy.copy(self)
        n_items = other.n_items_ = self.n_items_ + n_added
        other.item_buyers_ = np.concatenate([self.item_buyers_, np.zeros(n_added, dtype=np.int64)])
        other.scale_buyers_ = np.concatenate([self.scale_buyers_, np.zeros(n_added)])
        beta = float(self.beta)
        unscaled = _scale_columns(self.weights_, 1.0 / self.column_scale(beta))  # as fit had them before scaling
        unscaled = sp.csr_matrix((unscaled.data, unscaled.indices, np.r_[unscaled.indptr, [unscaled.nnz] * n_added]),
                                 shape=(n_items, n_items))
        if self.map_cold_items:
            unscaled = other._map_cold_items(unscaled, embedding, cold=np.arange(self.n_items_, n_items))
        other.weights_ = _scale_columns(unscaled, other.column_scale(beta))
        return other

    def column_scale(self, beta: float) -> np.ndarray:
        """What popularity exponent ``beta`` multiplies each item's column by (float32)."""
        return np.asarray(np.power(np.maximum(self.scale_buyers_, 1.0), -beta), dtype=np.float32)

    def with_beta(self, beta: float) -> ItemItemRecommender:
        """A copy with popularity exponent ``beta``, without refitting (one column scaling)."""
        self.check_fitted()
        beta = check_number(beta, "beta", f"{type(self).__name__}.with_beta")
        other = copy.copy(self)
        other.beta = beta
        other.weights_ = _scale_columns(self.weights_, self.column_scale(beta) / self.column_scale(float(self.beta)))
        return other

    def _product(self, batch: UserBatch) -> sp.csr_matrix:
        """``history @ weights_``, sparse: a buyer's purchases times their neighbours."""
        self.check_fitted()
        _, history = check_batch(batch, self.n_users_, self.n_items_, f"{type(self).__name__}.score")
        return history @ self.weights_

    def score(self, batch: UserBatch) -> np.ndarray:
        """``history @ weights_`` (float32, buyers x items)."""
        return np.asarray(self._product(batch).toarray(), dtype=np.float32)

    def score_items(self, batch: UserBatch, items: np.ndarray) -> np.ndarray:
        """``history @ weights_[:, items]``: those columns only (an audience scores one item for
        every buyer)."""
        self.check_fitted()
        _, history = check_batch(batch, self.n_users_, self.n_items_, f"{type(self).__name__}.score_items")
        columns = self.weights_[:, check_items(items, self.n_items_, f"{type(self).__name__}.score_items")]
        return np.asarray((history @ columns).toarray(), dtype=np.float32)

    def scores_and_spread(self, batch: UserBatch, items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The scores at ``items`` and their spread, the spread from the sparse product's values
        alone (every other item scores 0) rather than from a pass over the dense scores."""
        product = self._product(batch)
        rows = np.repeat(np.arange(product.shape[0]), np.diff(product.indptr))
        values = product.data.astype(np.float64)
        mean = np.bincount(rows, values, minlength=product.shape[0]) / self.n_items_
        squares = np.bincount(rows, values * values, minlength=product.shape[0]) / self.n_items_
        scores = np.asarray(product.toarray(), dtype=np.float32)
        return (scores if items is None else scores[:, items]), np.sqrt(np.maximum(squares - mean ** 2, 0.0))

    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each item's strongest neighbours (largest weights), best first; rows with fewer than
        ``k`` neighbours are padded with code -1 and score -inf (as :func:`recommender.ranking.top_k`)."""
        self.check_fitted()
        who = f"{type(self).__name__}.similar_items"
        codes = check_items(items, self.n_items_, who)
        k = check_non_negative_int(k, "k", who)

        def rows(block: np.ndarray) -> np.ndarray:  # neighbours' weights, -inf where none
            sub = self.weights_[block]
            dense = np.full(sub.shape, -np.inf, dtype=np.float32)
            dense[np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr)), sub.indices] = sub.data
            return dense

        return similar_from_rows(rows, codes, self.n_items_, k)

    def explaining_purchases(self, items: np.ndarray, bought: np.ndarray,
                             excluded: np.ndarray | None = None) -> np.ndarray:
        """The purchase with the largest weight towards each item, where that weight is positive and
        the pair not ``excluded``."""
        items, bought = np.asarray(items, dtype=np.int64), np.asarray(bought, dtype=np.int64)
        out = np.full(len(items), -1, dtype=np.int64)
        if len(items) == 0 or len(bought) == 0:
            return out
        weights = self.weights_[bought][:, items].toarray()  # bought x items
        if excluded is not None:
            weights[excluded.T] = 0.0
        best = weights.argmax(axis=0)
        found = weights[best, np.arange(len(items))] > 0
        out[found] = best[found]
        return out


def _scale_columns(matrix: sp.csr_matrix, scale: np.ndarray) -> sp.csr_matrix:
    scaled = matrix.copy()
    scaled.data *= scale[scaled.indices]
    return scaled


def prune_rows(blocks: Iterable[tuple[np.ndarray, np.ndarray]], n_items: int, neighbours: int,
               columns: np.ndarray | None = None) -> sp.csr_matrix:
    """Items x items CSR (float32) keeping, of each row, the ``neighbours`` largest positive values
    and never the diagonal. ``blocks`` yields ``(rows, values)``: item codes and a dense
    ``len(rows) x len(columns)`` block of their similarities, whose columns are the item codes
    ``columns`` (default: every item)."""
    columns = np.arange(n_items) if columns is None else np.asarray(columns, dtype=np.int64)

    def pruned(block: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, values = block
        values = np.array(values, dtype=np.float32, copy=True)
        values[(rows[:, None] == columns[None, :]) | ~(values > 0)] = 0.0
        keep = min(neighbours, values.shape[1])
        if keep < values.shape[1]:
            top = np.argpartition(-values, keep - 1, axis=1)[:, :keep]
        else:
            top = np.broadcast_to(np.arange(values.shape[1]), values.shape)
        picked = np.take_along_axis(values, top, axis=1)
        positive = picked > 0
        return np.broadcast_to(rows[:, None], top.shape)[positive], columns[top[positive]], picked[positive]

    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    with ThreadPoolExecutor(max_workers=PRUNING_THREADS) as threads:  # argpartition releases the GIL
        pending = []
        for block in blocks:  # at most PRUNING_THREADS dense blocks alive at a time
            pending.append(threads.submit(pruned, block))
            if len(pending) == PRUNING_THREADS:
                parts.extend(future.result() for future in pending)
                pending = []
        parts.extend(future.result() for future in pending)
    row_parts, column_parts, value_parts = zip(*parts) if parts else ((), (), ())
    if not row_parts:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    matrix = sp.csr_matrix((np.concatenate(value_parts), (np.concatenate(row_parts), np.concatenate(column_parts))),
                           shape=(n_items, n_items), dtype=np.float32)
    matrix.sort_indices()
    return matrix


def row_blocks(n_rows: int, n_columns: int) -> Iterable[np.ndarray]:
    """Consecutive row codes, in blocks whose dense ``rows x n_columns`` float32 block stays under
    :data:`BLOCK_CELLS`."""
    step = max(1, BLOCK_CELLS // max(n_columns, 1))
    for start in range(0, n_rows, step):
        yield np.arange(start, min(n_rows, start + step))
