"""Argument checks and small helpers shared by the recommendation models.

Every model checks its input once, at its public boundary, with these functions, so a bad call
gets the same clear message whichever model it reaches.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from recommender.contract import MAX_CITY_TIER, UNKNOWN_TIER
from recommender.features.encoders import UNKNOWN_CODE
from recommender.features.training_data import TrainingData, UserBatch
from recommender.ranking import top_k

# Rows of a dense (queries x items) similarity block computed at once by similar_from_rows.
SIMILAR_BLOCK_CELLS = 1 << 24  # 16 M float32 cells = 64 MB


def check_positive_int(value: object, name: str, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive integer, got {value!r}")
    return int(value)


def check_non_negative_int(value: object, name: str, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{who}: {name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_number(value: object, name: str, who: str, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite real number ``>= minimum`` (``> minimum`` when ``strict``)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not np.isfinite(value) or not (value > minimum if strict else value >= minimum)):
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


def check_added_items(catalog: pd.DataFrame, embedding: npt.ArrayLike, n_items: int, who: str) -> np.ndarray:
    """The content vectors (float32) of the items a ``with_items`` call adds, after the ``n_items``
    fitted ones; refuses a catalog and embedding that do not cover every item."""
    embedding = np.asarray(embedding, dtype=np.float32)
    if embedding.ndim != 2 or len(embedding) < n_items or len(catalog) != len(embedding):
        raise ValueError(f"{who}: catalog ({len(catalog)} rows) and embedding (shape {embedding.shape}) must "
                         f"cover the {n_items} fitted items and the added ones")
    return np.ascontiguousarray(embedding[n_items:])


def check_items(items: npt.ArrayLike, n_items: int, who: str) -> np.ndarray:
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


def check_batch(batch: UserBatch, n_users: int | None, n_items: int, who: str) -> tuple[np.ndarray, sp.csr_matrix]:
    """The batch's buyer codes (int64; ``UNKNOWN_CODE`` or ``0..n_users-1``; any code when
    ``n_users`` is None, for models that ignore them) and history (float32 CSR,
    ``len(batch) x n_items``), checked, and its tiers checked."""
    users = np.asarray(batch.users).reshape(-1)
    if users.size and not np.issubdtype(users.dtype, np.integer):
        raise ValueError(f"{who}: buyer codes must be integers, got dtype {users.dtype}")
    users = users.astype(np.int64, copy=False)
    bad = (users != UNKNOWN_CODE) & ((users < 0) | (users >= (n_users if n_users is not None else np.inf)))
    if bad.any():
        raise ValueError(f"{who}: buyer code {int(users[bad][0])} is neither {UNKNOWN_CODE} (unseen) nor a "
                         f"training code 0..{(n_users or 0) - 1}")
    history = batch.history
    if not sp.issparse(history):
        history = sp.csr_matrix(np.atleast_2d(np.asarray(history, dtype=np.float32)))
    history = sp.csr_matrix(history, dtype=np.float32)
    if history.shape != (len(users), n_items):
        raise ValueError(f"{who}: batch history has shape {history.shape}, expected ({len(users)}, {n_items}) "
                         f"(one row per buyer, one column per item)")
    if history.nnz and not np.isfinite(history.data).all():
        raise ValueError(f"{who}: batch history holds non-finite values")
    check_tiers(batch, who)
    return users, history


def check_tiers(batch: UserBatch, who: str) -> np.ndarray:
    """The batch's city tiers as int64, one per buyer, each in ``UNKNOWN_TIER..MAX_CITY_TIER``."""
    tiers = np.asarray(batch.tiers).reshape(-1)
    if len(tiers) != len(batch.users):
        raise ValueError(f"{who}: batch has {len(batch.users)} buyers but {len(tiers)} tiers")
    if tiers.size and not np.issubdtype(tiers.dtype, np.integer):
        raise ValueError(f"{who}: city tiers must be integers, got dtype {tiers.dtype}")
    tiers = tiers.astype(np.int64, copy=False)
    bad = (tiers < UNKNOWN_TIER) | (tiers > MAX_CITY_TIER)
    if bad.any():
        raise ValueError(f"{who}: city tier {int(tiers[bad][0])} is out of range {UNKNOWN_TIER}..{MAX_CITY_TIER} "
                         f"({UNKNOWN_TIER} = unknown)")
    return tiers


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
    """Rows of a dense matrix scaled to unit L2 norm, as float32; all-zero rows stay zero.

    Scaled by numpy's norms directly: scikit-learn's ``normalize`` validates its input and
    parameters on every call (about 200 us), and reasons call this twice per buyer."""
    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)
