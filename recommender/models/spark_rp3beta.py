"""RP3beta whose item-item random walk is computed by Spark, from the weighted pairs in Spark.

Only how the walk's weights are computed changes: :class:`SparkRP3betaRecommender` is an
:class:`~recommender.models.rp3beta.RP3betaRecommender`, so the popularity exponent, the content
mapping of never-bought items, scoring, save/load and serving are the same code, and a model
trained on Spark serves without Spark (this module imports pyspark only inside ``fit``).

On Spark, from the ``ratings`` of training data built by Spark (:mod:`recommender.spark.interactions`):
each pair's transition probabilities buyer -> item (its weight over the buyer's total) and item ->
buyer (over the item's total), raised to ``alpha``; a self-join of the pairs on the buyer gives
every two-step walk item -> buyer -> item, summed per item pair; a window keeps each item's
``neighbours`` largest positive weights (never the item itself). Only those come to the driver.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import scipy.sparse as sp

from recommender.features.training_data import TrainingData
from recommender.models.rp3beta import RP3betaRecommender

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class SparkRP3betaRecommender(RP3betaRecommender):
    """:class:`~recommender.models.rp3beta.RP3betaRecommender` fitted on Spark (same parameters);
    its training data must come from Spark (``ratings``)."""

    def _item_similarity(self, data: TrainingData, user_items: sp.csr_matrix) -> sp.csr_matrix:
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        from recommender.spark.interactions import spark_ratings, strongest_item_pairs

        ratings = spark_ratings(data, "SparkRP3betaRecommender")
        weight, alpha = F.col("weight").cast("double"), F.lit(float(self.alpha))

        def transition(given: str) -> DataFrame:  # each pair's weight over its buyer's or item's total, to the alpha
            share = weight / F.sum(weight).over(Window.partitionBy(given))
            shares: DataFrame = ratings.select("user", "item", F.pow(share, alpha).alias("value"))
            return shares

        return strongest_item_pairs(transition("item"), transition("user"), int(self.neighbours), user_items.shape[1])
