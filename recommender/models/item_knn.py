"""Item-item nearest neighbours from implicit (``CosineRecommender`` / ``BM25Recommender``).

implicit computes each item's ``neighbours`` most similar items (cosine of the items' columns, or
BM25-weighted co-purchases); the result is the sparse items x items matrix of an
:class:`~recommender.models.item_item.ItemItemRecommender` (no weight of an item towards itself,
columns divided by popularity ** ``beta``).
"""
from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommender.features.training_data import TrainingData
from recommender.models.base import FitCost
from recommender.models.checks import check_non_negative_int, check_number
from recommender.models.family import Family, Move, Start
from recommender.models.item_item import POPULARITY_EXPONENTS, ItemItemRecommender


class ImplicitNeighbours(Protocol):
    """What fitting uses of implicit's nearest-neighbours models (implicit ships no types)."""

    similarity: sp.csr_matrix

    def fit(self, user_items: sp.csr_matrix, show_progress: bool = True) -> None: ...

SIMILARITIES = ("cosine", "bm25")


class ItemKNNRecommender(ItemItemRecommender):
    """Item-item nearest neighbours (implicit).

    Parameters
    ----------
    neighbours : int, default 100
        Neighbours kept per item (the item itself not counted).
    similarity : {"cosine", "bm25"}, default "cosine"
        ``"cosine"``: cosine between the items' columns of ``TrainingData.user_items`` (the
        weighted matrix). ``"bm25"``: implicit's BM25 item-item similarity, computed from
        ``TrainingData.confidence`` (decayed quantities before weighting), since
        ``BM25Recommender`` applies its own BM25 weighting.
    bm25_k1, bm25_b : float, default 1.2, 0.75
        BM25 parameters for ``similarity="bm25"`` (implicit's defaults).
    beta : float, default 0.0
        Popularity exponent (see :mod:`recommender.models.item_item`).
    map_cold_items : bool, default True
        Never-bought items take their content neighbours' weights (see :mod:`recommender.models.item_item`).
    num_threads : int, default 0
        implicit's threads; 0 uses every core.

    Learned attributes: see :class:`~recommender.models.item_item.ItemItemRecommender`.
    """

    def __init__(self, neighbours: int = 100, similarity: str = "cosine", bm25_k1: float = 1.2, bm25_b: float = 0.75,
                 beta: float = 0.0, map_cold_items: bool = True, num_threads: int = 0):
        self.neighbours = neighbours
        self.similarity = similarity
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.beta = beta
        self.map_cold_items = map_cold_items
        self.num_threads = num_threads

    def _check_params(self, who: str) -> None:
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"{who}: similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        check_number(self.bm25_k1, "bm25_k1", who)
        check_number(self.bm25_b, "bm25_b", who)
        check_non_negative_int(self.num_threads, "num_threads", who)
        super()._check_params(who)

    def _implicit_model(self) -> ImplicitNeighbours:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        neighbours = int(self.neighbours) + 1  # implicit counts the item itself among its neighbours
        model: ImplicitNeighbours
        if self.similarity == "bm25":
            model = BM25Recommender(K=neighbours, K1=float(self.bm25_k1), B=float(self.bm25_b),
                                    num_threads=int(self.num_threads))
        else:
            model = CosineRecommender(K=neighbours, num_threads=int(self.num_threads))
        return model

    def _item_similarity(self, data: TrainingData, user_items: sp.csr_matrix) -> sp.csr_matrix:
        source = user_items
        if self.similarity == "bm25":
            confidence = getattr(data, "confidence", None)
            if confidence is not None and sp.issparse(confidence) and confidence.shape == user_items.shape:
                source = sp.csr_matrix(confidence, dtype=np.float32)
        from implicit.utils import ParameterWarning

        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # CosineRecommender hands its own normalised COO matrix on, which implicit then warns about
            warnings.simplefilter("ignore", ParameterWarning)
            model = self._implicit_model()
            model.fit(source, show_progress=False)
        similarity = sp.coo_matrix(model.similarity)
        keep = (similarity.row != similarity.col) & (similarity.data > 0)
        n_items = user_items.shape[1]
        return sp.csr_matrix((similarity.data[keep].astype(np.float32), (similarity.row[keep], similarity.col[keep])),
                             shape=(n_items, n_items), dtype=np.float32)

    @classmethod
    def fit_cost(cls, params: dict[str, Any], n_users: int, n_items: int, n_pairs: int) -> FitCost:
        per_buyer = n_pairs / max(n_users, 1)
        return FitCost(2e-8 * n_pairs * per_buyer + 1e-6 * n_items, 16.0 * n_pairs + 12.0 * n_items * 100)


FAMILY = Family(
    "item_knn", ItemKNNRecommender, parts=("searched",), exponents=POPULARITY_EXPONENTS,
    cold_item_parameter="map_cold_items", starts=(Start({"neighbours": 100, "similarity": "cosine"}),),
    moves=(Move("neighbours", (0.5, 2.0)), Move("similarity", ("bm25",), kind="set")),
    spark="recommender.models.spark_item_knn:SparkItemKNNRecommender")
