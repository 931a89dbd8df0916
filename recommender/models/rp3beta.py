"""RP3beta (Paudel, Christoffel, Newell & Bernstein 2017, "Updatable, accurate, diverse, and scalable
recommendations for interactive applications"): a three-step random walk buyer -> item -> buyer ->
item, with transition probabilities raised to ``alpha``, and every target item's probability divided
by its popularity to the power ``beta``.

With ``X`` the weighted buyers x items matrix, ``P_ui`` its rows normalised to sum 1 (buyer to item)
and ``P_iu`` the rows of ``X^T`` normalised (item to buyer), the item-item weights are
``W = (P_iu ** alpha) @ (P_ui ** alpha)``, computed a block of items at a time as sparse products
(the cost is the sum over buyers of their items squared, never items^2 dense), pruned to each
item's ``neighbours`` largest and divided column-wise by ``buyers ** beta``
(:mod:`recommender.models.item_item`; here ``beta`` divides the kept neighbours, so models that
differ only in ``beta`` share one fit).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.features.training_data import TrainingData
from recommender.models.base import FitCost
from recommender.models.checks import check_number
from recommender.models.family import Family, Move, Start
from recommender.models.item_item import POPULARITY_EXPONENTS, ItemItemRecommender, prune_rows, row_blocks


class RP3betaRecommender(ItemItemRecommender):
    """Item-item random walks with popularity-discounted targets (RP3beta).

    Parameters
    ----------
    alpha : float, default 1.0
        Exponent on the transition probabilities (1: the plain random walk).
    beta : float, default 0.3
        Popularity exponent (see :mod:`recommender.models.item_item`).
    neighbours : int, default 200
        Largest weights kept per item.
    map_cold_items : bool, default True
        Never-bought items take their content neighbours' weights (see :mod:`recommender.models.item_item`).

    Learned attributes: see :class:`~recommender.models.item_item.ItemItemRecommender`.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 0.3, neighbours: int = 200, map_cold_items: bool = True):
        self.alpha = alpha
        self.beta = beta
        self.neighbours = neighbours
        self.map_cold_items = map_cold_items

    def _check_params(self, who: str) -> None:
        check_number(self.alpha, "alpha", who, strict=True)
        super()._check_params(who)

    def _item_similarity(self, data: TrainingData, user_items: sp.csr_matrix) -> sp.csr_matrix:
        from sklearn.preprocessing import normalize  # fitting only: loading a model must not import scikit-learn

        user_to_item = normalize(user_items, norm="l1", axis=1).astype(np.float32)
        item_to_user = normalize(user_items.T.tocsr(), norm="l1", axis=1).astype(np.float32)
        if self.alpha != 1:
            user_to_item.data **= np.float32(self.alpha)
            item_to_user.data **= np.float32(self.alpha)
        n_items = user_items.shape[1]
        blocks = ((rows, (item_to_user[rows] @ user_to_item).toarray()) for rows in row_blocks(n_items, n_items))
        return prune_rows(blocks, n_items, int(self.neighbours))

    @classmethod
    def fit_cost(cls, params: dict[str, Any], n_users: int, n_items: int, n_pairs: int) -> FitCost:
        per_buyer = n_pairs / max(n_users, 1)
        return FitCost(6e-8 * n_pairs * per_buyer + 9e-9 * n_items ** 2, 16.0 * n_pairs + 4.0 * n_items * 200 * 3)


FAMILY = Family(
    "rp3beta", RP3betaRecommender, parts=("searched",), exponents=POPULARITY_EXPONENTS,
    cold_item_parameter="map_cold_items", starts=(Start({"alpha": 1.0, "neighbours": 200}),),
    moves=(Move("alpha", (0.7, 1.3)), Move("neighbours", (0.5, 2.0))),
    spark="recommender.models.spark_rp3beta:SparkRP3betaRecommender")
