"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"): a closed-form ridge
regression of every item on all the others.

With ``X`` the weighted buyers x items matrix, ``P = (X^T X + l2 I)^-1`` and ``B_ij = -P_ij / P_jj``
(``B_jj = 0``). The Gram matrix comes from the training data (:meth:`TrainingData.item_gram`: a block
of columns at a time on one machine, a distributed self-join on Spark) and is inverted in place through
its Cholesky factor (LAPACK ``potrf``/``potri``, float32): one dense items x items array plus
LAPACK's workspace, where ``np.linalg.inv`` would need several.

Scaling: the solve is cubic in the items. EASE is solved exactly on the ``max_items`` most-bought
items (all of them on catalogs up to that size); past it, the rarest items get no weights from
EASE and reach lists through the other models of a blend. ``B`` is then pruned to each item's
``neighbours`` largest positive weights (:mod:`recommender.models.item_item`): on the UCI data,
200 of 3,600 score as well as all of them, and the model shrinks from items^2 to items x 200.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommender.features.training_data import TrainingData, UserBatch, gram_matrix
from recommender.models.base import FitCost, Recommender
from recommender.models.checks import (
    check_batch,
    check_number,
    check_positive_int,
    check_training_data,
    similar_from_rows,
)
from recommender.models.family import Family, Move, Start
from recommender.models.item_item import POPULARITY_EXPONENTS, ItemItemRecommender, prune_rows, row_blocks

_SYMMETRISE_BLOCK = 2048  # rows copied at a time when mirroring the inverse's upper triangle
SECONDS_PER_CUBED_ITEM = 6e-12  # Cholesky inverse on two cores: 23,800 items took 70 s here
SECONDS_PER_SQUARED_ITEM = 4e-8  # the Gram matrix, mirroring and pruning, per solved cell (UCI: 1.4 s for 3.7k)
DENSE_COPIES = 3  # peak memory in items x items float32 arrays (Gram, LAPACK workspace, pruning)
PLAN_SHARE = 0.8  # of the search's planned seconds left for fitting, the most one EASE solve may take
MIN_SOLVED_ITEMS = 1_000  # below this many solved items, the search skips EASE instead


class EASERecommender(ItemItemRecommender):
    """Closed-form linear item-item autoencoder (EASE), pruned to a sparse neighbourhood.

    Parameters
    ----------
    l2 : float, default 250.0
        Ridge penalty on the diagonal of the Gram matrix; larger values shrink the weights (more
        popularity-like, less overfitting on sparse data). Must be > 0.
    beta : float, default 0.0
        Popularity exponent: column ``j`` divided by ``buyers_j ** beta`` (see
        :mod:`recommender.models.item_item`).
    neighbours : int, default 200
        Largest positive weights kept per item.
    max_items : int, default 15,000
        Most-bought items EASE is solved on (a dense ``max_items``-square float32 solve: 0.9 GB
        and about 20 s at 15,000); the others get no EASE weights.
    map_cold_items : bool, default True
        Never-bought items take their content neighbours' weights (see :mod:`recommender.models.item_item`).

    Learned attributes
    ------------------
    weights_, item_buyers_, n_users_, n_items_ : see :class:`~recommender.models.item_item.ItemItemRecommender`
    solved_items_ : ndarray, int64
        The item codes EASE was solved on.
    """

    def __init__(self, l2: float = 250.0, beta: float = 0.0, neighbours: int = 200, max_items: int = 15_000,
                 map_cold_items: bool = True):
        self.l2 = l2
        self.beta = beta
        self.neighbours = neighbours
        self.max_items = max_items
        self.map_cold_items = map_cold_items

    def _check_params(self, who: str) -> None:
        check_number(self.l2, "l2", who, strict=True)
        check_positive_int(self.max_items, "max_items", who)
        super()._check_params(who)

    def _item_similarity(self, data: TrainingData, user_items: sp.csr_matrix) -> sp.csr_matrix:
        solved = most_bought(self.item_buyers_, int(self.max_items))
        self.solved_items_ = solved
        weights = ease_from_gram(data.item_gram(solved), float(self.l2))  # on Spark, Spark computes the Gram
        blocks = ((solved[rows], weights[rows]) for rows in row_blocks(len(solved), len(solved)))
        return prune_rows(blocks, user_items.shape[1], int(self.neighbours), columns=solved)

    @classmethod
    def fit_cost(cls, params: dict[str, Any], n_users: int, n_items: int, n_pairs: int) -> FitCost:
        solved = min(n_items, int(params.get("max_items", 15_000)))
        return FitCost(SECONDS_PER_CUBED_ITEM * solved ** 3 + SECONDS_PER_SQUARED_ITEM * solved ** 2 + 1e-6 * n_pairs,
                       DENSE_COPIES * 4.0 * solved ** 2 + 16.0 * n_pairs)


def most_bought(item_buyers: np.ndarray, limit: int) -> np.ndarray:
    """Codes (sorted) of the items with buyers, at most ``limit`` of them: the most bought (ties
    to the lower code)."""
    bought = np.flatnonzero(item_buyers > 0)
    if len(bought) <= limit:
        return bought
    order = np.argsort(-item_buyers[bought], kind="stable")[:limit]
    return np.sort(bought[order])


def ease_weights(user_items: sp.spmatrix, l2: float) -> np.ndarray:
    """EASE's ``B`` (float32, items x items, C-ordered, zero diagonal) for a buyers x items matrix."""
    return ease_from_gram(gram_matrix(user_items), l2)


def ease_from_gram(gram: np.ndarray, l2: float) -> np.ndarray:
    """EASE's ``B`` from the Gram matrix ``X^T X`` (float32, Fortran-ordered, as
    :func:`~recommender.features.training_data.gram_matrix` gives it; overwritten by the solve)."""
    n = gram.shape[0]
    gram[np.diag_indices_from(gram)] += np.float32(l2)
    potrf, potri = scipy.linalg.get_lapack_funcs(("potrf", "potri"), (gram,))
    with threadpool_limits(os.cpu_count() or 1, "blas"):  # the solve is BLAS-bound: every core (training holds 1)
        factor, info = potrf(gram, lower=False, overwrite_a=True, clean=False)
        if info != 0:
            raise ValueError(f"EASE: the regularised Gram matrix is not positive definite (LAPACK potrf "
                             f"info={info}); raise l2")
        inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise ValueError(f"EASE: inverting the regularised Gram matrix failed (LAPACK potri info={info}); raise l2")
    # potri fills only the upper triangle: mirror it into the lower, a block of rows at a time
    for start in range(0, n, _SYMMETRISE_BLOCK):
        stop = min(start + _SYMMETRISE_BLOCK, n)
        inverse[start:stop, :start] = inverse[:start, start:stop].T
        block = inverse[start:stop, start:stop]
        block[np.tril_indices(stop - start, -1)] = block.T[np.tril_indices(stop - start, -1)]
    weights: np.ndarray = inverse.T  # symmetric now; the transpose of the Fortran array is C-ordered, no copy
    weights /= -np.diag(weights)[None, :]
    np.fill_diagonal(weights, 0.0)
    return weights


class ExactEASE(Recommender):
    """The textbook EASE baseline of ``recommender evaluate``: ``B`` solved exactly and kept dense (no
    pruning, no popularity exponent, no content mapping), on the matrix it is given."""

    def __init__(self, l2: float = 250.0):
        self.l2 = l2

    def fit(self, data: TrainingData) -> ExactEASE:
        user_items = check_training_data(data, "ExactEASE.fit")
        self.weights_ = ease_weights(user_items, float(self.l2))
        self.n_users_, self.n_items_ = user_items.shape
        return self

    def score(self, batch: UserBatch) -> np.ndarray:
        _, history = check_batch(batch, self.n_users_, self.n_items_, "ExactEASE.score")
        return np.asarray(history @ self.weights_, dtype=np.float32)

    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return similar_from_rows(lambda block: self.weights_[block], np.asarray(items), self.n_items_, k)


def fit_to_plan(params: dict[str, Any], shapes: list[tuple[int, int, int]], items_bought: int, seconds: float
                ) -> dict[str, Any] | None:
    """``params`` with ``max_items`` lowered to the most items whose fits (:meth:`fit_cost` on
    buyers x items matrices of ``shapes``: buyers, items, bought pairs; one per validation window)
    take at most :data:`PLAN_SHARE` of ``seconds`` (what the search's plan has left for fitting)
    together, when fewer than the ``items_bought``; None when fewer than :data:`MIN_SOLVED_ITEMS`
    would be."""
    limit = min(int(params.get("max_items", EASERecommender().max_items)), items_bought)

    def cost(n: int) -> float:
        return sum(EASERecommender.fit_cost({**params, "max_items": n}, *shape).seconds for shape in shapes)

    allowed = PLAN_SHARE * max(seconds, 0.0)
    if cost(limit) <= allowed:
        return dict(params)
    low, high = 0, limit  # the largest n with cost(n) <= allowed, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if cost(middle) <= allowed else (low, middle - 1)
    return None if low < min(MIN_SOLVED_ITEMS, items_bought) else {**params, "max_items": low}


FAMILY = Family(
    "ease", EASERecommender, parts=("searched",), leading=True, exponents=POPULARITY_EXPONENTS,
    cold_item_parameter="map_cold_items", starts=(Start({"l2": 250.0}),), moves=(Move("l2", (0.4, 2.5)),),
    fit_to_plan=fit_to_plan)
