"""Top-k selection over score matrices: partial sort, exclusions as masks.

``argpartition`` finds the k best in linear time; only those k are then sorted.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def exclude(scores: np.ndarray, items: sp.csr_matrix | None = None, mask: np.ndarray | None = None) -> np.ndarray:
    """Set to -inf, in place, the scores of each row's items in ``items`` (e.g. already bought)
    and of every item where ``mask`` is False (e.g. unavailable, filtered out)."""
    if items is not None and items.nnz:
        rows = np.repeat(np.arange(items.shape[0]), np.diff(items.indptr))
        scores[rows, items.indices] = -np.inf
    if mask is not None:
        scores[:, ~mask] = -np.inf
    return scores


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of each row as ``(indices, scores)``, best first.

    Rows with fewer than ``k`` finite scores are padded with index -1 and score -inf.
    """
    scores = np.atleast_2d(scores)
    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if k <= 0:
        return np.empty((n_rows, 0), dtype=np.int64), np.empty((n_rows, 0), dtype=scores.dtype)
    if k < n_cols:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    indices = np.take_along_axis(part, order, axis=1)
    best = np.take_along_axis(part_scores, order, axis=1)
    indices = np.where(np.isneginf(best), -1, indices)
    return indices, best
