"""Bayesian Personalised Ranking (Rendle et al. 2009), fitted by implicit's CPU SGD.

implicit's BPR keeps an item bias in the last column of the item factors, with a constant 1 in
the last column of every buyer's factors, so ``user_factors_ @ item_factors_.T`` already
includes the bias; ``similar_items`` compares items without it.

Folding in an unseen buyer. BPR has no closed form for a new row, so a buyer's vector is taken
along the direction of the first BPR gradient step from zero with uniformly drawn negatives: the
history-weighted mean of the bought items' factors minus the mean of all items' factors
(``sum_i w_i (y_i - y_mean) / sum_i w_i``, bias column excluded). Its length is set to the median
length of the trained buyers' vectors, so personal taste and item popularity (the bias) weigh
about as much as for a buyer seen in training; the bias column is 1. This is a heuristic: it
ranks items near what the buyer bought first, but is not the vector a refit would learn.

Reproducibility: implicit's BPR SGD runs lock-free ("hogwild") over ``num_threads`` threads, so
fits are identical for a ``random_state`` only with ``num_threads=1``, the default.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.models._factors import FactorModel, ImplicitFactors
from recommender.models.base import FitCost
from recommender.models.checks import check_non_negative_int, check_number, check_positive_int
from recommender.models.family import Family, Move, Start


class BPRRecommender(FactorModel):
    """Matrix factorisation trained on pairwise ranking (bought before not bought).

    Parameters
    ----------
    factors : int, default 64
        Number of latent factors (implicit adds one more column for the item bias).
    learning_rate : float, default 0.05
        SGD step size.
    regularization : float, default 0.01
        L2 penalty on the factors.
    iterations : int, default 100
        SGD epochs.
    random_state : int, default 0
        Seed; fits are identical for a seed only with ``num_threads=1`` (see the module notes).
    verify_negative_samples : bool, default True
        Re-draw a sampled negative item the buyer actually bought (slower, usually better).
    num_threads : int, default 1
        implicit's threads for fitting; 0 uses every core (faster, but no longer reproducible).
        BLAS is held to one thread while fitting, as implicit advises.
    show_progress : bool, default False
        Show implicit's progress bar while fitting.

    Learned attributes
    ------------------
    user_factors_, item_factors_ : ndarray, float32 (last column: 1 / item bias)
    item_mean_ : ndarray, float32
        Mean item factor (bias column excluded), the centre of the fold-in.
    user_norm_ : float
        Median length of the trained buyers' factors (bias column excluded), the fold-in length.
    n_users_, n_items_ : int
    """

    def __init__(self, factors: int = 64, learning_rate: float = 0.05, regularization: float = 0.01,
                 iterations: int = 100, random_state: int | None = 0, verify_negative_samples: bool = True,
                 num_threads: int = 1, show_progress: bool = False, map_cold_items: bool = True):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.verify_negative_samples = verify_negative_samples
        self.num_threads = num_threads
        self.show_progress = show_progress
        self.map_cold_items = map_cold_items

    def _check_params(self) -> None:
        who = "BPRRecommender"
        check_positive_int(self.factors, "factors", who)
        check_number(self.learning_rate, "learning_rate", who, strict=True)
        check_number(self.regularization, "regularization", who)
        check_positive_int(self.iterations, "iterations", who)
        check_non_negative_int(self.num_threads, "num_threads", who)

    @classmethod
    def fit_cost(cls, params: dict[str, Any], n_users: int, n_items: int, n_pairs: int) -> FitCost:
        """implicit's SGD: each epoch costs about pairs x factors (verified negatives add more), on
        ``num_threads`` of two cores."""
        factors, iterations = int(params.get("factors", 64)), int(params.get("iterations", 100))
        threads = int(params.get("num_threads", 1)) or 2
        return FitCost(iterations * n_pairs * factors * 4 / (1.4e9 * min(threads, 2)),
                       4.0 * (n_users + n_items) * factors * 3 + 24.0 * n_pairs)

    def _implicit_model(self) -> ImplicitFactors:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model: ImplicitFactors = BayesianPersonalizedRanking(
            factors=int(self.factors), learning_rate=float(self.learning_rate),
            regularization=float(self.regularization), dtype=np.float32, iterations=int(self.iterations),
            num_threads=int(self.num_threads), verify_negative_samples=bool(self.verify_negative_samples),
            random_state=self.random_state)
        return model

    def _after_fit(self) -> None:
        self.item_mean_ = self.item_factors_[:, :-1].mean(axis=0).astype(np.float32)
        self.user_norm_ = float(np.median(np.linalg.norm(self.user_factors_[:, :-1], axis=1)))

    def _item_embedding(self) -> np.ndarray:
        return self.item_factors_[:, :-1]  # without the bias: items alike in taste, not popularity

    def _fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        weights = sp.csr_matrix(history, dtype=np.float64, copy=True)
        weights.data = np.maximum(weights.data, 0.0)
        totals = np.asarray(weights.sum(axis=1)).ravel()
        out = np.zeros((history.shape[0], self.item_factors_.shape[1]), dtype=np.float32)
        rows = totals > 0  # no positive weight: nothing to fold in, zeros
        if not rows.any():
            return out
        centred = self.item_factors_[:, :-1].astype(np.float64) - self.item_mean_
        direction = (weights[rows] @ centred) / totals[rows, None]
        norms = np.linalg.norm(direction, axis=1, keepdims=True)
        out[rows, :-1] = direction * (self.user_norm_ / np.where(norms > 0, norms, 1.0))
        out[rows, -1] = 1.0
        return out


FAMILY = Family(
    "bpr", BPRRecommender, parts=("searched",), cold_item_parameter="map_cold_items",
    starts=(Start({"factors": 64, "learning_rate": 0.05, "regularization": 0.01, "iterations": 100}),),
    moves=(Move("factors", (2.0,)), Move("learning_rate", (0.4, 2.0))))
