"""Top-k selection: over score matrices, or fused with the product of buyer and item vectors.

``top_k`` uses ``argpartition`` (the k best in linear time, then only those sorted).
``top_k_of_subset`` scores only the items a narrow filter keeps (a category, a region): their
vectors gathered from a C-ordered copy, one product, ``top_k``. On the 20k-item demo catalog that
is 1.3x (3,255 items kept, one buyer) to 18x (247 items, batches of 8) faster than the fused top-k
with the filter as a mask.
``top_k_of_product`` hands linear models to implicit's multithreaded C++ top-k, which multiplies
blocks of 100 buyers with the item vectors and keeps the best as it goes, with exclusions applied
inside, so the full buyers x items score matrix is never built. Two details make it fast:
item vectors in Fortran order (implicit multiplies by ``items.T``, which is then C-contiguous for
BLAS; :func:`product_layout`), and the per-buyer exclusions handed over as :class:`RowIndices`
(implicit reads ``filter_query_items[row].indices`` once per buyer; slicing a scipy matrix row
there costs about 20 us a buyer, a slice of ``indices`` under 1 us).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import cast

import numpy as np
import scipy.sparse as sp
from implicit.cpu.topk import topk as implicit_topk

FILTERED = np.finfo(np.float32).min / 2  # implicit scores filtered items with float32's lowest value
COMPACT_MIN_ROWS = 256  # buyers sharing unused dimensions repay a copy of the item columns they use
RowGroup = tuple[slice | np.ndarray, np.ndarray | None]  # rows of a query and the dimensions they use (None: all)


def exclude(scores: np.ndarray, items: sp.csr_matrix | None = None, mask: np.ndarray | None = None) -> np.ndarray:
    """Set to -inf, in place, the scores of each row's items in ``items`` (e.g. already bought)
    and of every item where ``mask`` is False (e.g. unavailable, filtered out)."""
    if items is not None and items.nnz:
        scores[cells_of(items)] = -np.inf
    if mask is not None:
        scores[:, ~mask] = -np.inf
    return scores


def cells_of(matrix: sp.csr_matrix, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The stored cells of ``matrix``'s ``rows`` (default: every row; a row < 0 has none) as
    ``(position in rows, column)`` arrays, read from the CSR arrays without slicing the matrix."""
    if rows is None:
        return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr)), matrix.indices
    rows = np.asarray(rows, dtype=np.int64)
    starts = matrix.indptr[np.maximum(rows, 0)]
    lengths = np.where(rows >= 0, matrix.indptr[np.maximum(rows, 0) + 1] - starts, 0)
    ends = np.cumsum(lengths)
    offsets = np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - lengths, lengths)
    return np.repeat(np.arange(len(rows)), lengths), matrix.indices[np.repeat(starts, lengths) + offsets]


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


class RowIndices:
    """The column indices of chosen rows of a CSR matrix: ``RowIndices(matrix, rows)[i].indices``
    are those of row ``rows[i]`` (empty where ``rows[i] < 0``; ``rows`` defaults to every row).

    It is all implicit's top-k reads from ``filter_query_items``, without scipy's cost of
    slicing a matrix by rows (about 20 us a row, against under 1 us here).
    """

    _EMPTY = SimpleNamespace(indices=np.empty(0, dtype=np.int32))

    def __init__(self, matrix: sp.csr_matrix, rows: np.ndarray | None = None):
        if not (sp.issparse(matrix) and matrix.format == "csr"):
            matrix = sp.csr_matrix(matrix)
        self.indptr, self.indices = matrix.indptr, matrix.indices
        self.rows = np.arange(matrix.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, positions: slice | np.ndarray) -> RowIndices:
        """The same matrix's rows at ``positions`` of this one's."""
        subset = RowIndices.__new__(RowIndices)
        subset.indptr, subset.indices, subset.rows = self.indptr, self.indices, self.rows[positions]
        return subset

    def __getitem__(self, i: int) -> SimpleNamespace:
        row = self.rows[i]
        if row < 0:
            return self._EMPTY
        return SimpleNamespace(indices=self.indices[self.indptr[row]:self.indptr[row + 1]])


def top_k_of_rows(matrix: sp.csr_matrix, rows: np.ndarray, k: int, allowed: np.ndarray | None = None,
                  cells: int = 1 << 24) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best stored cells of each of ``rows`` of a sparse score matrix as ``(columns,
    scores)``, best first (-1 / -inf where a row has fewer), columns outside ``allowed`` left out;
    rows are expanded to dense blocks of at most ``cells`` scores and ranked by :func:`top_k`."""
    step, width = max(1, cells // max(matrix.shape[1], 1)), min(k, matrix.shape[1])
    codes, scores = [np.empty((0, width), dtype=np.int64)], [np.empty((0, width))]
    for start in range(0, len(rows), step):
        block = matrix[rows[start:start + step]].tocoo()
        dense = np.full(block.shape, -np.inf)
        dense[block.row, block.col] = block.data
        if allowed is not None:
            dense[:, ~allowed] = -np.inf
        found = top_k(dense, k)
        codes.append(found[0])
        scores.append(found[1])
    return np.vstack(codes), np.vstack(scores)


def product_layout(item_vectors: np.ndarray) -> np.ndarray:
    """Item vectors as :func:`top_k_of_product` multiplies them fastest: float32, Fortran order
    (a copy unless they already are; keep the result when calling repeatedly)."""
    return np.asfortranarray(item_vectors, dtype=np.float32)


def top_k_of_product(user_vectors: np.ndarray, item_vectors: np.ndarray, k: int,
                     items: RowIndices | sp.csr_matrix | None = None, mask: np.ndarray | None = None,
                     threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items of ``user_vectors @ item_vectors.T`` per row, as :func:`top_k` returns
    them, leaving out each row's ``items`` (one row per buyer: a CSR matrix or the rows of one)
    and every item where ``mask`` is False."""
    n_items = item_vectors.shape[0]
    k = min(k, n_items)
    if k <= 0 or len(user_vectors) == 0:
        return np.empty((len(user_vectors), max(k, 0)), dtype=np.int64), np.empty((len(user_vectors), max(k, 0)),
                                                                                  dtype=np.float32)
    query = np.ascontiguousarray(user_vectors, dtype=np.float32)
    catalog = product_layout(item_vectors)
    filtered = np.flatnonzero(~mask).astype(np.int32) if mask is not None and not mask.all() else None
    seen = items if items is None or isinstance(items, RowIndices) else RowIndices(items)
    codes = np.empty((len(query), k), dtype=np.int32)
    scores = np.empty((len(query), k), dtype=np.float32)
    for rows, dimensions in _rows_by_used_dimensions(query):
        group_catalog = catalog if dimensions is None else np.asfortranarray(catalog[:, dimensions])
        # a group with dimensions of its own has its rows as an array
        group_query = (query[rows] if dimensions is None
                       else np.ascontiguousarray(query[np.ix_(cast(np.ndarray, rows), dimensions)]))
        codes[rows], scores[rows] = implicit_topk(group_catalog, group_query, k,
                                                  filter_query_items=None if seen is None else seen.subset(rows),
                                                  filter_items=filtered, num_threads=threads)
    missing = scores <= FILTERED
    return np.where(missing, -1, codes).astype(np.int64), np.where(missing, -np.inf, scores).astype(np.float32)


def _rows_by_used_dimensions(query: np.ndarray) -> list[RowGroup]:
    """The rows of ``query`` in groups, each with the dimensions its rows use (non-zero anywhere
    in the group), ``None`` for all: a buyer whose vector is zero on some dimensions (a blend
    component weighted 0 for their history length) is multiplied without them. Only groups of at
    least ``COMPACT_MIN_ROWS`` rows are split off, which repays copying their item columns."""
    whole: list[RowGroup] = [(slice(None), None)]
    if len(query) < COMPACT_MIN_ROWS:
        return whole
    used = query != 0
    # rows keyed by a hash of their pattern; a group's dimensions are those any of its rows uses,
    # so a collision costs speed, never exactness
    keys = used @ np.random.default_rng(0).random(query.shape[1])
    _, group_of_row = np.unique(keys, return_inverse=True)
    groups: list[RowGroup] = []
    rest = np.zeros(len(query), dtype=bool)
    for group in range(group_of_row.max() + 1):
        rows = np.flatnonzero(group_of_row == group)
        dimensions = np.flatnonzero(used[rows].any(axis=0))
        if len(rows) >= COMPACT_MIN_ROWS and len(dimensions) < query.shape[1]:
            groups.append((rows, dimensions))
        else:
            rest[rows] = True
    if not groups:
        return whole
    return groups + ([(np.flatnonzero(rest), None)] if rest.any() else [])


def top_k_of_subset(user_vectors: np.ndarray, item_rows: np.ndarray, k: int, kept: np.ndarray,
                    items: RowIndices | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k_of_product` over the items ``kept`` only (sorted item codes), as it returns
    them (``min(k, n_items)`` columns): one product with the kept items' vectors, gathered from
    ``item_rows`` (the item vectors in C order; a row gather from Fortran order is 4-5x slower),
    leaving out each row's ``items``."""
    width = min(k, item_rows.shape[0])
    scores = np.ascontiguousarray(user_vectors, dtype=np.float32) @ np.take(item_rows, kept, axis=0).T
    if items is not None:
        for row in range(len(scores)):
            bought = items[row].indices
            at = np.searchsorted(kept, bought)
            inside = at < len(kept)
            at = at[inside]
            scores[row, at[kept[at] == bought[inside]]] = -np.inf
    positions, best = top_k(scores, width)
    codes = np.full((len(scores), width), -1, dtype=np.int64)
    padded = np.full((len(scores), width), -np.inf, dtype=np.float32)
    found = positions >= 0
    codes[:, :positions.shape[1]] = np.where(found, kept[np.where(found, positions, 0)], -1)
    padded[:, :best.shape[1]] = best
    return codes, padded


@dataclass(frozen=True)
class GroupedColumns:
    """A layout of score columns (items) in which each group's (product's) columns are contiguous:
    its marked columns (niche listings) first, then the others, each such run in order of preference.
    Scores in this layout give every group's best column in a few passes over them (:meth:`best`),
    where a top-k over single columns would have to fetch deeper and deeper until enough distinct
    groups come up (360 products for 20,000 listings on the demo of ``bench/train.py``)."""

    order: np.ndarray  # the column at each layout position
    position: np.ndarray  # the layout position of each column
    run_starts: np.ndarray  # the first position of each run (a group's marked or other columns)
    run_lengths: np.ndarray  # the number of columns of each run
    group_runs: np.ndarray  # the first run of each group (a group has one or two runs)
    run_group: np.ndarray  # the group of each run (0.. in layout order)
    marked_runs: np.ndarray  # the runs of marked columns
    countdown: np.ndarray  # each position's distance from the layout's end (n .. 1, int32)

    @classmethod
    def of(cls, groups: np.ndarray, preference: np.ndarray) -> GroupedColumns:
        """The layout of columns whose group codes are ``groups`` (int, one per column), the columns
        of ``preference`` > 0 marked, and in each run the columns of higher ``preference`` first."""
        groups, preference = np.asarray(groups, dtype=np.int64), np.asarray(preference, dtype=np.float64)
        n = len(groups)
        marked = preference > 0
        order = np.lexsort((np.arange(n), -preference, ~marked, groups))
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        run_key = groups[order] * 2 + ~marked[order]
        run_starts = np.flatnonzero(np.r_[True, run_key[1:] != run_key[:-1]])
        run_group = groups[order][run_starts]
        group_runs = np.flatnonzero(np.r_[True, run_group[1:] != run_group[:-1]])
        return cls(order, position, run_starts, np.diff(np.r_[run_starts, n]), group_runs,
                   np.repeat(np.arange(len(group_runs)), np.diff(np.r_[group_runs, len(run_starts)])),
                   np.flatnonzero(marked[order][run_starts]), np.arange(n, 0, -1, dtype=np.int32))

    def best(self, scores: np.ndarray, k: int, marked_k: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` groups with the best columns of each row of ``scores`` (in this layout; -inf:
        left out), each as its best column, then the ``marked_k`` groups with the best marked
        columns that are not among the first ``k``, each as its best marked column, as
        ``(columns, scores)`` in the original column numbering, best first in each part (-1 / -inf
        padding). A group's best column is its highest-scoring one, on a tie the first in the layout
        (a marked one, then the one of highest preference)."""
        rows = np.arange(len(scores))[:, None]
        runs = np.maximum.reduceat(scores, self.run_starts, axis=1)
        group_best = np.maximum.reduceat(runs, self.group_runs, axis=1)
        groups, head_scores = top_k(group_best, k)
        first_run = self.group_runs[np.maximum(groups, 0)]
        head_runs = np.where(runs[rows, first_run] >= head_scores, first_run, first_run + 1)
        head_runs = np.where(groups >= 0, head_runs, -1)
        marked_best = runs[:, self.marked_runs]
        in_head = np.zeros((len(scores), group_best.shape[1] + 1), dtype=bool)  # a last column for padding
        in_head[rows, groups] = True
        marked_best[in_head[:, self.run_group[self.marked_runs]]] = -np.inf
        picked, marked_scores = top_k(marked_best, marked_k)
        marked_runs = np.where(picked >= 0, self.marked_runs[np.maximum(picked, 0)], -1)
        chosen, chosen_scores = np.hstack([head_runs, marked_runs]), np.hstack([head_scores, marked_scores])
        return self._first_best_columns(scores, runs, chosen), chosen_scores.astype(np.float32)

    def _first_best_columns(self, scores: np.ndarray, runs: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """The column (original numbering) of each ``chosen`` run's best score, the first on a tie
        (-1 where ``chosen`` is -1): each cell at its run's best (none in a run left out entirely)
        marked by its distance from the layout's end, the largest mark of each run is its first."""
        rows = np.arange(len(scores))[:, None]
        reachable = np.where(np.isfinite(runs), runs, np.nan)  # nan equals nothing
        marks = np.multiply(scores == np.repeat(reachable, self.run_lengths, axis=1), self.countdown, dtype=np.int32)
        first = np.maximum.reduceat(marks, self.run_starts, axis=1)[rows, np.maximum(chosen, 0)]
        return np.where((chosen >= 0) & (first > 0), self.order[len(self.order) - np.maximum(first, 1)], -1)
