"""Item k-NN whose cosine similarities are computed by Spark, from the weighted pairs in Spark.

:class:`SparkItemKNNRecommender` is an :class:`~recommender.models.item_knn.ItemKNNRecommender`
(same parameters, scoring, save/load and serving; pyspark is imported only inside ``fit``). With
``similarity="cosine"`` each item's column of the weighted matrix is scaled to unit length by a
window sum on Spark, a self-join on the buyer sums the products per item pair, and a window keeps
each item's ``neighbours`` largest (:func:`~recommender.spark.interactions.strongest_item_pairs`):
implicit's ``CosineRecommender`` computed where the pairs are. ``similarity="bm25"`` is implicit's,
on the driver, from the collected matrix.
"""
from __future__ import annotations

import scipy.sparse as sp

from recommender.features.training_data import TrainingData
from recommender.models.item_knn import ItemKNNRecommender


class SparkItemKNNRecommender(ItemKNNRecommender):
    """:class:`~recommender.models.item_knn.ItemKNNRecommender` with its cosine similarities
    computed on Spark; its training data must come from Spark (``ratings``)."""

    def _item_similarity(self, data: TrainingData, user_items: sp.csr_matrix) -> sp.csr_matrix:
        if self.similarity != "cosine":
            return super()._item_similarity(data, user_items)
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        from recommender.spark.interactions import spark_ratings, strongest_item_pairs

        weight = F.col("weight").cast("double")
        unit = spark_ratings(data, "SparkItemKNNRecommender").select(
            "user", "item", (weight / F.sqrt(F.sum(weight * weight).over(Window.partitionBy("item")))).alias("value"))
        return strongest_item_pairs(unit, unit, int(self.neighbours), user_items.shape[1])
