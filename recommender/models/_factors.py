"""Shared pieces of the collaborative-filtering models (ALS, BPR, EASE, item k-NN).

* argument checks for batches, item codes and ``k``;
* :func:`similar_from_rows`: top-k neighbours from rows of an item-item score matrix, the item
  itself excluded, in bounded-memory chunks;
* :class:`FactorModel`: the matrix-factorisation mixin. A subclass says how to build and fit the
  implicit model and how to fold in unseen buyers; the mixin fits it with BLAS limited to one
  thread (implicit's advice; implicit runs its own threads), keeps the factors as numpy float32
  arrays, scores a batch with one matrix product, and finds similar items by the cosine of item
  factors.
"""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommender.features.encoders import UNKNOWN_CODE
from recommender.features.training_data import TrainingData, UserBatch
from recommender.models.base import Recommender
from recommender.ranking import top_k

# Rows of a dense (queries x items) similarity block computed at once by similar_from_rows.
SIMILAR_BLOCK_CELLS = 1 << 24  # 16 M float32 cells = 64 MB


def check_positive_int(value, name: str, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive integer, got {value!r}")
    return int(value)


def check_non_negative_int(value, name: str, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{who}: {name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_number(value, name: str, who: str, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite real number ``>= minimum`` (``> minimum`` when ``strict``)."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
          and np.isfinite(value) and (value > minimum if strict else value >= minimum))
    if not ok:
        raise ValueError(f"{who}: {name} must be a finite number {'>' if strict else '>='} {minimum:g}, "
                         f"got {value!r}")
    return float(value)


def check_training_data(data: TrainingData, who: str) -> sp.csr_matrix:
    """The training ``user_items`` as float32 CSR with sorted indices; refuses an empty matrix."""
    matrix = getattr(data, "user_items", None)
    if matrix is None or not sp.issparse(matrix):
        raise ValueError(f"{who}: data.user_items must be a scipy sparse matrix (TrainingData)")
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    if matrix.shape[0] == 0 or matrix.shape[1] == 0 or matrix.nnz == 0:
        raise ValueError(f"{who}: no interactions to learn from (user_items has shape {matrix.shape}, "
                         f"{matrix.nnz} non-zeros)")
    if not np.isfinite(matrix.data).all():
        raise ValueError(f"{who}: user_items holds non-finite values")
    matrix.sort_indices()
    return matrix


def check_items(items, n_items: int, who: str) -> np.ndarray:
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


def check_batch(batch: UserBatch, n_users: int, n_items: int, who: str) -> tuple[np.ndarray, sp.csr_matrix]:
    """The batch's buyer codes (int64; ``UNKNOWN_CODE`` or ``0..n_users-1``) and history
    (float32 CSR, ``len(batch) x n_items``), checked."""
    users = np.asarray(batch.users).reshape(-1)
    if users.size and not np.issubdtype(users.dtype, np.integer):
        raise ValueError(f"{who}: buyer codes must be integers, got dtype {users.dtype}")
    users = users.astype(np.int64, copy=False)
    bad = (users != UNKNOWN_CODE) & ((users < 0) | (users >= n_users))
    if bad.any():
        raise ValueError(f"{who}: buyer code {int(users[bad][0])} is neither {UNKNOWN_CODE} (unseen) nor a "
                         f"training code 0..{n_users - 1}")
    history = batch.history
    if not sp.issparse(history):
        history = sp.csr_matrix(np.atleast_2d(np.asarray(history, dtype=np.float32)))
    history = sp.csr_matrix(history, dtype=np.float32)
    if history.shape != (len(users), n_items):
        raise ValueError(f"{who}: batch history has shape {history.shape}, expected ({len(users)}, {n_items}) "
                         f"(one row per buyer, one column per item)")
    if history.nnz and not np.isfinite(history.data).all():
        raise ValueError(f"{who}: batch history holds non-finite values")
    return users, history


def similar_from_rows(rows: Callable[[np.ndarray], np.ndarray], items: np.ndarray, n_items: int,
                      k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of ``rows(block)`` (dense float32, ``len(block) x n_items`` similarities) for each
    item, the item itself excluded (-inf), best first via :func:`top_k`; computed in blocks of
    queries so the dense block stays under :data:`SIMILAR_BLOCK_CELLS`."""
    k = min(k, max(n_items - 1, 0))
    codes_out = np.full((len(items), k), -1, dtype=np.int64)
    scores_out = np.full((len(items), k), -np.inf, dtype=np.float32)
    step = max(1, SIMILAR_BLOCK_CELLS // max(n_items, 1))
    for start in range(0, len(items), step):
        block = items[start:start + step]
        scores = np.array(rows(block), dtype=np.float32, copy=True)
        scores[np.arange(len(block)), block] = -np.inf
        codes_out[start:start + len(block)], scores_out[start:start + len(block)] = top_k(scores, k)
    return codes_out, scores_out


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); all-zero rows stay zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class FactorModel(Recommender):
    """Mixin for implicit's matrix-factorisation models (ALS, BPR).

    Subclasses implement :meth:`_implicit_model` (the unfitted ``implicit.cpu`` model built from
    the parameters) and :meth:`_fold_in` (factors for buyers unseen in training, from their
    histories); they may override :meth:`_item_embedding` (the item vectors compared by
    ``similar_items``) and :meth:`_after_fit` (extra learned attributes).

    Learned attributes
    ------------------
    user_factors_ : ndarray, float32, buyers x factors
    item_factors_ : ndarray, float32, items x factors
        Scores are ``user_factors_ @ item_factors_.T`` (for BPR the last column holds the item
        biases, with a constant 1 in the buyer factors).
    n_users_, n_items_ : int
    """

    @abstractmethod
    def _implicit_model(self):
        """The unfitted implicit CPU model configured from this estimator's parameters."""

    @abstractmethod
    def _fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """Factors (float32, rows x factors) for unseen buyers with these non-empty histories."""

    def _check_params(self) -> None:
        """Raise ValueError on a bad parameter (called by fit)."""

    def _after_fit(self, user_items: sp.csr_matrix) -> None:
        """Hook for extra learned attributes, called at the end of fit."""

    def _item_embedding(self) -> np.ndarray:
        """The item vectors whose cosine is ``similar_items``' score."""
        return self.item_factors_

    def fit(self, data: TrainingData) -> "FactorModel":
        """Factorise ``data.user_items`` (buyers x items, implicit's convention)."""
        who = f"{type(self).__name__}.fit"
        self._check_params()
        user_items = check_training_data(data, who)
        # implicit checks the BLAS thread pool when a model is built and runs its own threads
        # (num_threads); BLAS threads on top of them slow it down badly, so BLAS gets one.
        with threadpool_limits(1, "blas"):
            model = self._implicit_model()
            model.fit(user_items, show_progress=bool(self.show_progress))
        self.user_factors_ = np.ascontiguousarray(_to_numpy(model.user_factors), dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(_to_numpy(model.item_factors), dtype=np.float32)
        self.n_users_, self.n_items_ = user_items.shape
        self._after_fit(user_items)
        return self

    def user_vectors(self, batch: UserBatch) -> np.ndarray:
        """Factors of the batch's buyers (float32): trained factors for training buyers, folded in
        from the history for unseen buyers, zeros for unseen buyers without history."""
        self.check_fitted()
        users, history = check_batch(batch, self.n_users_, self.n_items_, f"{type(self).__name__}.score")
        vectors = np.zeros((len(users), self.user_factors_.shape[1]), dtype=np.float32)
        known = users != UNKNOWN_CODE
        vectors[known] = self.user_factors_[users[known]]
        fold = np.flatnonzero(~known & (np.diff(history.indptr) > 0))
        if len(fold):
            vectors[fold] = self._fold_in(history[fold])
        return vectors

    def score(self, batch: UserBatch) -> np.ndarray:
        """``user_vectors(batch) @ item_factors_.T`` (float32, buyers x items); a row of zeros for
        an unseen buyer without history."""
        vectors = self.user_vectors(batch)
        return (vectors @ self.item_factors_.T).astype(np.float32, copy=False)

    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items whose factors have the highest cosine with each item's, itself excluded."""
        self.check_fitted()
        who = f"{type(self).__name__}.similar_items"
        codes = check_items(items, self.n_items_, who)
        k = check_non_negative_int(k, "k", who)
        unit = unit_rows(self._item_embedding())
        return similar_from_rows(lambda block: unit[block] @ unit.T, codes, self.n_items_, k)


def _to_numpy(factors) -> np.ndarray:
    """implicit's factors as numpy (CPU models give ndarrays; GPU matrices have ``to_numpy``)."""
    return factors.to_numpy() if hasattr(factors, "to_numpy") else np.asarray(factors)
