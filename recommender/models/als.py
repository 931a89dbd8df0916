"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008), fitted by implicit's CPU solver.

Buyer and item factors are learned from ``TrainingData.user_items`` (weights ``w``, buyers x
items). A pair's confidence follows the paper (and Spark's ALS): ``c = 1 + alpha * w`` for a
bought pair, 1 for every pair not bought, so any purchase weighs more than no purchase
(:func:`confidences`; ``confidence="implicit"`` keeps the implicit library's own ``c = alpha * w``,
for the plain-library baseline). implicit reads a value's magnitude as the confidence and its sign
as the preference, so the confidences are handed to it as they are, with its ``alpha`` at 1.

A buyer unseen in training is folded in by the same least-squares step ALS uses for a buyer row,
solved exactly against the fixed item factors: with ``Y`` the item factors, ``c_i`` the
confidences of the buyer's history (``1 + alpha * history_i``) and ``p_i = 1`` where ``c_i > 0``,

    x = (Y^T Y + regularization * I + sum_i (|c_i| - 1) y_i y_i^T)^-1  sum_{c_i > 0} c_i y_i

which is what implicit's ``recalculate_user`` computes (its Cholesky path) on the same
confidences; here it is solved for the whole batch at once with numpy (batched ``solve``), so no
implicit object needs to be kept.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.features.training_data import TrainingData
from recommender.models._factors import FactorModel, ImplicitFactors
from recommender.models.base import FitCost
from recommender.models.checks import check_non_negative_int, check_number, check_positive_int
from recommender.models.family import Family, Move, Start

# Bound on the (rows x longest history x factors) float64 array of item factors the fold-in
# gathers at once (see als_fold_in).
FOLD_IN_BLOCK_CELLS = 1 << 22  # 4 M cells = 32 MB

# How a weight w becomes a confidence: the paper's 1 + alpha * w, or implicit's alpha * w.
CONFIDENCE_CONVENTIONS = ("paper", "implicit")


def confidences(weights: sp.spmatrix, alpha: float, convention: str = "paper") -> sp.csr_matrix:
    """The confidences ALS gives the pairs of ``weights`` (buyers x items), as implicit reads them:
    the magnitude is the confidence, the sign the preference (positive bought, negative not).

    ``"paper"`` (Hu, Koren & Volinsky 2008; Spark's ALS): ``sign(w) * (1 + alpha * |w|)``, pairs of
    weight 0 dropped (unobserved, confidence 1); ``"implicit"``: ``alpha * w``, implicit's own.
    Duplicate entries are summed first. The dtype of ``weights`` is kept.
    """
    out = sp.csr_matrix(weights, copy=True)
    out.sum_duplicates()
    if convention == "paper":
        out.eliminate_zeros()
        out.data = np.sign(out.data) * (1 + alpha * np.abs(out.data))
    elif convention == "implicit":
        out.data = out.data * out.data.dtype.type(alpha)
    else:
        raise ValueError(f"confidence must be one of {CONFIDENCE_CONVENTIONS}, got {convention!r}")
    return out


class ALSRecommender(FactorModel):
    """Matrix factorisation by alternating least squares on implicit feedback.

    Parameters
    ----------
    factors : int, default 64
        Number of latent factors.
    regularization : float, default 0.05
        L2 penalty on the factors (implicit's ``regularization``).
    alpha : float, default 1.0
        Scale of the confidences: a bought pair of weight ``w`` has confidence ``1 + alpha * w``,
        a pair not bought 1 (see ``confidence``).
    iterations : int, default 15
        ALS sweeps (each solves all buyers, then all items).
    random_state : int, default 0
        Seed of the initial factors; with the same seed and data, fits are identical.
    num_threads : int, default 0
        implicit's threads for fitting; 0 uses every core. BLAS is held to one thread while
        fitting, as implicit advises.
    show_progress : bool, default False
        Show implicit's progress bar while fitting.
    map_cold_items : bool, default True
        Items nobody bought get factors mapped from their content (False: zero factors).
    confidence : {"paper", "implicit"}, default "paper"
        ``"paper"``: confidence ``1 + alpha * w`` (Hu, Koren & Volinsky 2008, as Spark's ALS);
        ``"implicit"``: ``alpha * w``, the implicit library's own convention, under which a weight
        below ``1 / alpha`` counts less than no purchase (kept for the plain-library baseline).

    Learned attributes
    ------------------
    user_factors_, item_factors_ : ndarray, float32
    gram_ : ndarray, float64, factors x factors
        ``item_factors_.T @ item_factors_``, reused by every fold-in.
    n_users_, n_items_ : int
    """

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 1.0,
                 iterations: int = 15, random_state: int | None = 0, num_threads: int = 0,
                 show_progress: bool = False, map_cold_items: bool = True, confidence: str = "paper"):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads
        self.show_progress = show_progress
        self.map_cold_items = map_cold_items
        self.confidence = confidence

    def _check_params(self) -> None:
        who = "ALSRecommender"
        check_positive_int(self.factors, "factors", who)
        check_number(self.regularization, "regularization", who)
        check_number(self.alpha, "alpha", who, strict=True)
        check_positive_int(self.iterations, "iterations", who)
        check_non_negative_int(self.num_threads, "num_threads", who)
        if self.confidence not in CONFIDENCE_CONVENTIONS:
            raise ValueError(f"{who}: confidence must be one of {CONFIDENCE_CONVENTIONS}, got {self.confidence!r}")

    @classmethod
    def fit_cost(cls, params: dict[str, Any], n_users: int, n_items: int, n_pairs: int) -> FitCost:
        """implicit's conjugate-gradient ALS: each iteration costs about pairs x factors plus
        (buyers + items) x factors^2 (64 factors, 15 iterations, 1.6M pairs of 100k buyers: 5 s
        on two cores here)."""
        factors, iterations = int(params.get("factors", 64)), int(params.get("iterations", 15))
        work = iterations * (n_pairs * factors * 6 + (n_users + n_items) * factors ** 2 * 3)
        return FitCost(work / 6e9, 4.0 * (n_users + n_items) * factors * 3 + 24.0 * n_pairs)

    def _implicit_model(self) -> ImplicitFactors:
        """implicit's ALS; its ``alpha`` stays 1, as the confidences it is given include ours."""
        from implicit.cpu.als import AlternatingLeastSquares

        model: ImplicitFactors = AlternatingLeastSquares(
            factors=int(self.factors), regularization=float(self.regularization), alpha=1.0, dtype=np.float32,
            iterations=int(self.iterations), num_threads=int(self.num_threads), random_state=self.random_state)
        return model

    def _learn_factors(self, data: TrainingData, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        return super()._learn_factors(data, confidences(user_items, float(self.alpha), self.confidence))

    def _after_fit(self) -> None:
        items = self.item_factors_.astype(np.float64)
        self.gram_ = items.T @ items

    def _fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        return als_fold_in(history, self.item_factors_, self.gram_, float(self.regularization), float(self.alpha),
                           self.confidence)


def als_fold_in(history: sp.csr_matrix, item_factors: np.ndarray, gram: np.ndarray, regularization: float,
                alpha: float = 1.0, confidence: str = "paper") -> np.ndarray:
    """ALS least-squares buyer factors (float32, rows x factors) for histories (rows x items of
    weights), against fixed item factors; ``gram`` is ``item_factors.T @ item_factors``; the
    weights become confidences as in fitting (:func:`confidences` with ``alpha`` and ``confidence``).

    Rows are solved together: rows of similar length are grouped, each group's bought items'
    factors gathered into a zero-padded (rows x length x factors) array, so the per-row normal
    matrices come from one batched matrix product and one batched ``solve``; groups are sized to
    keep that array under :data:`FOLD_IN_BLOCK_CELLS`.
    """
    # one slot per (row, item), holding its confidence
    history = confidences(sp.csr_matrix(history, dtype=np.float64), alpha, confidence)
    n, f = history.shape[0], item_factors.shape[1]
    out = np.zeros((n, f), dtype=np.float32)
    if n == 0:
        return out
    items = np.asarray(item_factors, dtype=np.float64)
    conf = history.data
    # right-hand sides: sum over c_i > 0 of c_i y_i
    positive = sp.csr_matrix((np.where(conf > 0, conf, 0.0), history.indices, history.indptr), shape=history.shape)
    rhs = positive @ items
    # normal matrices: Y^T Y + regularization I + sum_i (|c_i| - 1) y_i y_i^T
    base = np.asarray(gram, dtype=np.float64) + regularization * np.eye(f)
    extra = np.abs(conf) - 1.0
    lengths = np.diff(history.indptr)
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < n:
        longest = max(int(lengths[order[start]]), 1)
        rows_fit = max(1, FOLD_IN_BLOCK_CELLS // (longest * f))
        stop = min(start + rows_fit, n)
        # lengths grow along ``order``: shrink the block until its longest row fits the budget
        while stop - start > 1 and (stop - start) * max(int(lengths[order[stop - 1]]), 1) * f > FOLD_IN_BLOCK_CELLS:
            stop = start + max(1, (stop - start) // 2)
        rows = order[start:stop]
        width = max(int(lengths[rows].max()), 1)
        slots = np.arange(width)
        filled = slots[None, :] < lengths[rows, None]  # rows x width
        flat = (history.indptr[rows, None] + slots[None, :])[filled]
        gathered = np.zeros((len(rows), width, f))
        gathered[filled] = items[history.indices[flat]]
        weights = np.zeros((len(rows), width))
        weights[filled] = extra[flat]
        a = np.matmul((gathered * weights[:, :, None]).transpose(0, 2, 1), gathered)
        a += base
        out[rows] = np.linalg.solve(a, rhs[rows][:, :, None])[:, :, 0]
        start = stop
    return out


FAMILY = Family(
    "als", ALSRecommender, parts=("searched",), leading=True, cold_item_parameter="map_cold_items",
    starts=(Start({"factors": 64, "regularization": 0.05, "alpha": 1.0, "iterations": 15}),),
    moves=(Move("factors", (2.0, 0.5)), Move("alpha", (4.0, 0.25)), Move("regularization", (10.0, 0.1))),
    spark="recommender.models.spark_als:SparkALSRecommender")
