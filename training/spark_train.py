"""``recommender train --backend spark``: the training job with the heavy part on Apache Spark.

Runs on Spark: reading and checking the purchase lines and applying the policies
(:mod:`recommender.spark.purchases`), the validation split by time, aggregating lines to weighted
buyer x item pairs (:mod:`recommender.spark.interactions`) and fitting every family that has a
Spark counterpart in the registry (its ``spark`` estimator: ALS is
:class:`~recommender.models.spark_als.SparkALSRecommender`). Runs on the driver, as in
:func:`training.train.train`: the catalog and its content features, the same deterministic model
search over the same families (those without a Spark counterpart fitted on the collected pairs),
the blend and niche tuning on the validation split, and the engine, which is written as the same
model directory.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from recommender.features.encoders import IdEncoder
from recommender.features.repeat import BuyerHistory, buyer_history
from recommender.features.seasons import SeasonalProfiles
from recommender.loaders import Dataset, LoadReport, load_catalog
from recommender.models import make_model
from recommender.models.base import Recommender
from recommender.spark import DEFAULT_MASTER, spark_session
from recommender.spark.interactions import SparkTrainingData, spark_training_data
from recommender.spark.purchases import days_covered, purchase_days, read_purchases, validation_split
from training.config import TrainConfig
from training.train import TrainResult, train

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


@dataclass
class SparkInput:
    """Purchase lines in Spark (cleaned, persisted) and the catalog on the driver.

    ``depth`` counts the validation splits that cut this input from the whole data (0: the whole
    data, 1: before the latest validation window, ...). ``built`` (shared by an input and the
    parts cut from it) holds the training data last built at each depth: building new training
    data frees the pairs in Spark of the data built before at its depth and deeper.
    """

    lines: DataFrame
    catalog: pd.DataFrame
    reports: list[LoadReport]
    built: dict[int, SparkTrainingData] = field(default_factory=dict, repr=False)
    depth: int = 0

    def validation_split(self, days: float) -> tuple[SparkInput, Dataset]:
        fit_lines, validation = validation_split(self.lines, days, self.catalog)
        return SparkInput(fit_lines, self.catalog, self.reports, self.built, self.depth + 1), validation

    def training_data(self, config: TrainConfig) -> SparkTrainingData:
        for depth in [depth for depth in self.built if depth >= self.depth]:
            self.built.pop(depth).unpersist()
        data = spark_training_data(self.lines, self.catalog, config.interaction_weighting,
                                   content_dimensions=config.content_dimensions, seed=config.seed)
        self.built[self.depth] = data
        return data

    def days_covered(self) -> float:
        return days_covered(self.lines)

    def buyer_history(self, users: IdEncoder) -> BuyerHistory:
        return buyer_history(purchase_days(self.lines, self.catalog), users, len(self.catalog))

    def seasons(self) -> SeasonalProfiles:
        return SeasonalProfiles.fit(purchase_days(self.lines, self.catalog), self.catalog)

    def component(self, name: str, params: dict, seed: int) -> Recommender:
        return make_model(name, params, seed, backend="spark")

    def counts(self) -> dict:
        return {"purchase_lines": int(self.lines.count()),
                "dropped": {report.path: report.dropped for report in self.reports}}

    def describe(self) -> dict:
        spark = self.lines.sparkSession
        return {"backend": "spark", "master": spark.sparkContext.master, "spark_version": spark.version}


def spark_input(spark, purchases: str | os.PathLike, catalog: str | os.PathLike,
                unknown_items: str = "drop") -> SparkInput:
    """Load the catalog on the driver and read the purchases with Spark."""
    catalog_frame, catalog_report = load_catalog(catalog)
    lines, catalog_frame, purchase_report = read_purchases(spark, str(purchases), catalog_frame, unknown_items)
    log.info("; ".join(purchase_report.lines() + catalog_report.lines()))
    return SparkInput(lines, catalog_frame, [purchase_report, catalog_report])


def train_with_spark(purchases: str | os.PathLike, catalog: str | os.PathLike, config: TrainConfig | None = None,
                     master: str | None = None, checkpoint_dir: str | None = None, unknown_items: str = "drop",
                     show_progress: bool = True) -> TrainResult:
    """The whole training job with Spark on ``master`` (default ``local[*]``)."""
    with spark_session(master or DEFAULT_MASTER, checkpoint_dir) as spark:
        return train(spark_input(spark, purchases, catalog, unknown_items), config, show_progress)
