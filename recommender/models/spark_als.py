"""Implicit-feedback ALS whose factors are learned by Spark (``pyspark.ml.recommendation.ALS``).

Only how the factors are learned changes: :class:`SparkALSRecommender` is an
:class:`~recommender.models.als.ALSRecommender`, so scoring, fold-in of unseen buyers, factors
mapped from content for items nobody bought, save/load and serving are the same code, and a
model trained on Spark serves without Spark (this module imports pyspark only inside ``fit``).

It learns from training data built by Spark (:mod:`recommender.spark.interactions`), whose
``ratings`` DataFrame holds the weighted pairs; the factors come back to the driver.

Parameters mean what they mean for ALSRecommender (implicit), mapped to Spark's conventions:

* ``regularization``: Spark scales its ``regParam`` by each buyer's and item's number of ratings
  (ALS-WR, Zhou et al. 2008), implicit does not. With ``n`` ratings, ``U`` buyers and ``I``
  items, ``regParam = regularization * (U + I) / (2 n)`` (:func:`spark_reg_param`) gives the
  same total penalty weight over all factor vectors: ``regParam * 2n = regularization * (U + I)``.
* ``alpha``: both backends give a bought pair of weight ``w`` the confidence ``1 + alpha * w``
  (Hu, Koren & Volinsky 2008), so the same ``alpha`` is passed and the confidences are the same.
* ``factors`` is Spark's ``rank``, ``iterations`` its ``maxIter``, ``random_state`` its ``seed``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from recommender.features.training_data import TrainingData
from recommender.models.als import ALSRecommender
from recommender.models.checks import check_non_negative_int, check_number, check_positive_int

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def spark_reg_param(regularization: float, user_items: sp.spmatrix) -> float:
    """Spark's ``regParam`` for implicit's ``regularization`` on this matrix (see the module notes)."""
    n_users, n_items = (int(n) for n in user_items.shape)
    return float(regularization) * (n_users + n_items) / (2.0 * max(int(user_items.nnz), 1))


def _dense_factors(frame: DataFrame, n: int, rank: int) -> np.ndarray:
    """Spark's ``(id, features)`` factor DataFrame as an ``n x rank`` array; ids without factors get 0."""
    collected = frame.toArrow()
    out = np.zeros((n, rank), dtype=np.float32)
    if collected.num_rows:
        features = collected.column("features").combine_chunks().flatten().to_numpy()
        out[collected.column("id").to_numpy().astype(np.int64)] = features.reshape(-1, rank)
    return out


class SparkALSRecommender(ALSRecommender):
    """ALS on implicit feedback fitted by Spark ML; everything after fitting is ALSRecommender's.

    Parameters
    ----------
    factors, regularization, alpha, iterations, random_state, map_cold_items
        As for :class:`~recommender.models.als.ALSRecommender` (see the module notes for how
        ``regularization`` and ``alpha`` map to Spark's).
    checkpoint_interval : int, default 5
        Spark checkpoints the factors every this many iterations, cutting the lineage that
        otherwise grows with each iteration (long lineages fail with stack overflows and make
        lost partitions expensive to recompute). The SparkContext needs a checkpoint directory
        (:func:`recommender.spark.spark_session` sets one). 0 disables checkpointing.
    blocks : int or None, default None
        Spark's ``numUserBlocks`` and ``numItemBlocks``: how many parts the buyers and the items
        are split into to solve in parallel. None: the cluster's default parallelism (its cores),
        as Spark's fixed default of 10 only adds overhead on a few cores.

    Learned attributes
    ------------------
    As ALSRecommender, plus ``spark_reg_param_``: the ``regParam`` Spark was given.
    """

    confidence = "paper"  # Spark's ALS has only the paper's convention, 1 + alpha * weight

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 1.0,
                 iterations: int = 15, random_state: int | None = 0, checkpoint_interval: int = 5,
                 blocks: int | None = None, map_cold_items: bool = True):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.checkpoint_interval = checkpoint_interval
        self.blocks = blocks
        self.map_cold_items = map_cold_items

    def _check_params(self) -> None:
        who = "SparkALSRecommender"
        check_positive_int(self.factors, "factors", who)
        check_number(self.regularization, "regularization", who)
        check_number(self.alpha, "alpha", who, strict=True)
        check_positive_int(self.iterations, "iterations", who)
        check_non_negative_int(self.checkpoint_interval, "checkpoint_interval", who)
        if self.blocks is not None:
            check_positive_int(self.blocks, "blocks", who)

    def _learn_factors(self, data: TrainingData, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        ratings = getattr(data, "ratings", None)
        if ratings is None:
            raise ValueError("SparkALSRecommender.fit: the training data has no Spark ratings; build it with "
                             "recommender.spark.interactions.spark_training_data (recommender train --backend spark)")
        from pyspark.ml.recommendation import ALS

        context = ratings.sparkSession.sparkContext
        if self.checkpoint_interval and context.getCheckpointDir() is None:
            raise ValueError("SparkALSRecommender.fit: checkpoint_interval is set but the SparkContext has no "
                             "checkpoint directory (sparkContext.setCheckpointDir)")
        self.spark_reg_param_ = spark_reg_param(self.regularization, user_items)
        blocks = int(self.blocks or context.defaultParallelism)
        als = ALS(rank=int(self.factors), maxIter=int(self.iterations), regParam=self.spark_reg_param_,
                  alpha=float(self.alpha), implicitPrefs=True, userCol="user", itemCol="item", ratingCol="weight",
                  seed=0 if self.random_state is None else int(self.random_state),
                  checkpointInterval=int(self.checkpoint_interval) or -1, numUserBlocks=blocks, numItemBlocks=blocks)
        model = als.fit(ratings)
        n_users, n_items = user_items.shape
        return (_dense_factors(model.userFactors, n_users, int(self.factors)),
                _dense_factors(model.itemFactors, n_items, int(self.factors)))
