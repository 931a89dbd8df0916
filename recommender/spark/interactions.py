"""The model inputs built by Spark: the same :class:`~recommender.features.training_data.TrainingData`
as :func:`~recommender.features.training_data.build_training_data`, from purchase lines in Spark.

Spark aggregates the lines to buyer x item confidences with the formulas of
:mod:`recommender.features.interactions` as DataFrame expressions (time decay, then the
``raw``/``log``/``bm25``/``tfidf`` weighting with implicit's formulas, ``binary``, or the ``recency``
of each pair's latest purchase; floored at ``MIN_WEIGHT``)
and each buyer's most frequent known city tier. Buyer ids get Spark's integer ids from a
``StringIndexer`` in alphabetical order, which is also the order of the single-machine encoder,
so codes (and :class:`~recommender.features.encoders.IdEncoder` round trips) agree; item codes are
catalog rows. The aggregated pairs (far fewer than purchase lines) come to the driver, because
serving keeps every buyer's history; the weighted pairs also stay in Spark, persisted, as
``ratings`` for :class:`~recommender.models.spark_als.SparkALSRecommender`.

The item-item models' Gram matrix ``X^T X`` (:meth:`SparkTrainingData.item_gram`) is computed on
Spark from ``ratings`` as well, not from the collected matrix: a self-join of the pairs on the
buyer (one row per pair of items a buyer bought), summed in float64 per item pair; only the
items x items result comes to the driver.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.features.content import ItemContentFeatures
from recommender.features.encoders import IdEncoder
from recommender.features.interactions import (
    MIN_WEIGHT,
    SECONDS_PER_DAY,
    SMALLEST_CONFIDENCE,
    InteractionWeighting,
)
from recommender.features.training_data import TrainingData, item_inputs
from recommender.spark.purchases import last_purchase_seconds

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass
class SparkTrainingData(TrainingData):
    """:class:`TrainingData` plus ``ratings``: the pairs as a persisted Spark DataFrame with
    columns ``user`` and ``item`` (int codes), ``confidence`` and ``weight`` (float)."""

    ratings: DataFrame = field(kw_only=True)

    def unpersist(self) -> None:
        """Free the Spark copy of the pairs."""
        self.ratings.unpersist()

    def item_gram(self, items: np.ndarray | None = None) -> np.ndarray:
        """:meth:`TrainingData.item_gram` computed on Spark from ``ratings``: the pairs of each buyer's
        items (a self-join on ``user``, each unordered pair once), their float64 products of weights
        summed per item pair; the sums come to the driver, fill both triangles and are returned as
        the local one is (float32, Fortran-ordered)."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import IntegerType, StructField, StructType

        items = np.arange(self.n_items, dtype=np.int64) if items is None else np.asarray(items, dtype=np.int64)
        gram = np.zeros((len(items), len(items)), dtype=np.float32, order="F")
        if not len(items):
            return gram
        pairs = self.ratings.select("user", "item", F.col("weight").cast("double").alias("value"))
        if len(items) < self.n_items:
            wanted = self.ratings.sparkSession.createDataFrame(
                [(int(item),) for item in items], StructType([StructField("item", IntegerType(), False)]))
            pairs = pairs.join(F.broadcast(wanted), "item")
        sums = item_pair_sums(pairs, pairs, lambda source, target: source <= target).toArrow()
        position = np.full(self.n_items, -1, dtype=np.int64)
        position[items] = np.arange(len(items))
        rows = position[sums.column("source").to_numpy().astype(np.int64)]
        columns = position[sums.column("target").to_numpy().astype(np.int64)]
        values = sums.column("value").to_numpy()  # float64 sums, stored as float32
        gram[rows, columns] = values
        gram[columns, rows] = values
        return gram


def _weighted(pairs, weighting: InteractionWeighting, n_items: int):
    """``pairs`` (user, item, confidence) with a ``weight`` column, as
    :func:`recommender.features.interactions.apply_weighting` computes it."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    confidence = F.col("confidence")
    if weighting.scheme == "binary":
        weight = F.lit(1.0)
    elif weighting.scheme == "recency":
        weight = F.col("recency")
    elif weighting.scheme == "raw":
        weight = confidence
    elif weighting.scheme == "log":
        weight = F.log1p(confidence)
    else:  # implicit's bm25_weight / tfidf_weight on items x buyers: buyers are the terms
        pairs = pairs.withColumn("buyer_items", F.count(F.lit(1)).over(Window.partitionBy("user")))
        idf = F.log(F.lit(float(n_items))) - F.log1p(F.col("buyer_items"))
        if weighting.scheme == "tfidf":
            weight = F.sqrt(confidence) * idf
        else:
            k1, b = float(weighting.bm25_k1), float(weighting.bm25_b)
            average = pairs.agg((F.sum("confidence") / F.lit(float(n_items))).alias("average_length"))
            pairs = (pairs.withColumn("item_length", F.sum("confidence").over(Window.partitionBy("item")))
                     .crossJoin(F.broadcast(average)))
            length_norm = (1.0 - b) + b * F.col("item_length") / F.col("average_length")
            weight = confidence * (k1 + 1.0) / (k1 * length_norm + confidence) * idf
    return pairs.select("user", "item", "confidence",
                        F.greatest(weight.cast("float"), F.lit(MIN_WEIGHT).cast("float")).alias("weight"))


def _buyer_tiers(lines, n_users: int) -> np.ndarray:
    """Each buyer's most frequent known city tier (ties: the lower tier), 0 when never given."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counts = lines.where(F.col("city_tier") > 0).groupBy("user", "city_tier").count()
    order = Window.partitionBy("user").orderBy(F.col("count").desc(), F.col("city_tier").asc())
    best = counts.withColumn("rank", F.row_number().over(order)).where(F.col("rank") == 1).toArrow().to_pandas()
    tiers = np.zeros(n_users, dtype=np.int8)
    tiers[best.user.to_numpy(dtype=np.int64)] = best.city_tier.to_numpy(dtype=np.int8)
    return tiers


def spark_training_data(lines, catalog: pd.DataFrame, weighting: InteractionWeighting | None = None,
                        content_features: ItemContentFeatures | None = None, content_dimensions: int = 64,
                        seed: int = 0) -> SparkTrainingData:
    """Build :class:`SparkTrainingData` from cleaned purchase lines
    (:func:`recommender.spark.purchases.read_purchases`) and the catalog they were read against."""
    from pyspark import StorageLevel
    from pyspark.ml.feature import StringIndexer
    from pyspark.sql import functions as F

    weighting = weighting or InteractionWeighting()
    reference = last_purchase_seconds(lines)
    indexer = StringIndexer(inputCol="user_id", outputCol="user_index", stringOrderType="alphabetAsc").fit(lines)
    users = IdEncoder(indexer.labels)
    lines = indexer.transform(lines).withColumn("user", F.col("user_index").cast("int"))
    decay = F.lit(1.0)
    if weighting.half_life_days is not None:
        age_days = F.greatest((F.lit(reference) - F.col("seconds")) / SECONDS_PER_DAY, F.lit(0.0))
        decay = F.pow(F.lit(2.0), -age_days / float(weighting.half_life_days))
    pairs = lines.groupBy("user", "item").agg(
        F.sum(F.when(F.col("quantity") > 0, F.greatest(F.col("quantity") * decay, F.lit(SMALLEST_CONFIDENCE)))
              .otherwise(F.col("quantity") * decay).cast("float")).cast("float").alias("confidence"),
        F.max(decay.cast("float")).alias("recency"))
    ratings = _weighted(pairs, weighting, len(catalog)).persist(StorageLevel.MEMORY_AND_DISK)

    collected = ratings.toArrow().to_pandas()
    rows, columns = collected.user.to_numpy(dtype=np.int64), collected.item.to_numpy(dtype=np.int64)
    shape = (len(users), len(catalog))

    def matrix(values) -> sp.csr_matrix:
        return sp.csr_matrix((values.to_numpy(dtype=np.float32), (rows, columns)), shape=shape, dtype=np.float32)

    return SparkTrainingData(users=users, items=IdEncoder(catalog.item_id), user_items=matrix(collected.weight),
                             confidence=matrix(collected.confidence), user_tiers=_buyer_tiers(lines, len(users)),
                             weighting=weighting, reference_time=np.datetime64(reference, "s"),
                             ratings=ratings,
                             **item_inputs(catalog, content_features, content_dimensions, seed))


def item_pair_sums(left, right, keep):
    """``left.value * right.value`` summed per pair of items (``source`` from ``left``, ``target``
    from ``right``; columns ``user``, ``item``, ``value`` each) over the buyers who bought both: a
    self-join on the buyer, restricted to the pairs ``keep(source, target)`` (column expressions)
    selects. A DataFrame of ``source``, ``target``, ``value``."""
    from pyspark.sql import functions as F

    sources = left.select("user", F.col("item").alias("source"), F.col("value").alias("out"))
    targets = right.select(F.col("user").alias("buyer"), F.col("item").alias("target"), F.col("value").alias("back"))
    return (sources.join(targets, (F.col("user") == F.col("buyer")) & keep(F.col("source"), F.col("target")))
            .groupBy("source", "target").agg(F.sum(F.col("out") * F.col("back")).alias("value")))


def strongest_item_pairs(left, right, neighbours: int, n_items: int) -> sp.csr_matrix:
    """The item-item weights of a two-step walk item -> buyer -> item, summed on Spark: ``left``
    (columns ``user``, ``item``, ``value``: item to buyer) and ``right`` (the same, buyer to item)
    joined on the buyer, ``left.value * right.value`` summed per pair of different items, each
    item's ``neighbours`` largest positive sums kept (ties: the lower item code) and only those
    collected, as an items x items float32 CSR (what the item-item models prune to)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    sums = item_pair_sums(left, right, lambda source, target: source != target).where(F.col("value") > 0)
    strongest = Window.partitionBy("source").orderBy(F.col("value").desc(), F.col("target").asc())
    kept = (sums.withColumn("rank", F.row_number().over(strongest)).where(F.col("rank") <= int(neighbours))
            .select("source", "target", "value").toArrow())
    matrix = sp.csr_matrix((kept.column("value").to_numpy().astype(np.float32),
                            (kept.column("source").to_numpy().astype(np.int64),
                             kept.column("target").to_numpy().astype(np.int64))),
                           shape=(n_items, n_items), dtype=np.float32)
    matrix.sort_indices()
    return matrix


def spark_ratings(data, who: str):
    """The weighted pairs in Spark of training data built by Spark (``ratings``), or a ValueError."""
    ratings = getattr(data, "ratings", None)
    if ratings is None:
        raise ValueError(f"{who}.fit: the training data must be built by Spark (ratings)")
    return ratings
