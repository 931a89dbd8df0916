"""Benchmark: ALS trained on one machine (implicit) and on Spark (local[2]), same data, same parameters.

    python bench/spark.py                      # demo marketplace, 20,000 buyers x 2,000 items
    python bench/spark.py --purchases P --catalog C [--master local[2]] [--test-days 30]

The data is cut by time (:func:`recommender.splits.temporal_split`, the last ``--test-days``
days test). The training part goes through both backends with the default training config's
weighting and ALS parameters (64 factors, regularization 0.05, 15 iterations):

* ``local``: features built in memory (:meth:`TrainConfig.training_data`) and
  :class:`~recommender.models.als.ALSRecommender` fitted by implicit: the baseline;
* ``spark``: the training part written as Parquet, read, checked and aggregated by Spark
  (:func:`training.spark_train.spark_input`) and :class:`~recommender.models.spark_als.SparkALSRecommender`
  fitted by Spark ML on ``--master``. The Spark session's start-up is timed apart.

Both backends give a bought pair the confidence ``1 + alpha * weight`` (Hu, Koren & Volinsky
2008). A third row fits the local ALS with the implicit library's own convention, ``alpha *
weight`` (``confidence="implicit"``), to show what that convention alone changes.

All models are wrapped in the same :class:`~recommender.engine.RecommendationEngine` (what the
model directory stores) and scored on the same test buyers, top 10 in pure relevance order with
purchases excluded, as ``recommender evaluate`` does: NDCG@10 and Recall@10 of each, and the
ratios spark / local of the times and of NDCG@10.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._process import market_paths
from recommender.columns import TEXT
from recommender.contract import UNKNOWN_TIER
from recommender.engine import RecommendationEngine
from recommender.loaders import load_dataset
from recommender.metrics import ndcg_at_k, recall_at_k
from recommender.models import FAMILIES, ALSRecommender
from recommender.models.spark_als import SparkALSRecommender
from recommender.splits import relevance_matrix, temporal_split
from training.config import TrainConfig

K = 10


def write_parquet(purchases: pd.DataFrame, path: Path) -> Path:
    """Contract columns of loaded purchases as a Parquet file Spark reads."""
    tiers = purchases.city_tier.astype("Int8").where(purchases.city_tier != UNKNOWN_TIER)
    pd.DataFrame({"user_id": purchases.user_id.astype(TEXT), "item_id": purchases.item_id.astype(TEXT),
                  "timestamp": purchases.timestamp, "quantity": purchases.quantity,
                  "city_tier": tiers}).to_parquet(path, index=False)
    return path


def score(model, data, test, buyers: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """NDCG@K and Recall@K of the model on the test buyers (training buyers with new test purchases)."""
    relevant = relevance_matrix(test, data.users, data.n_items, data.purchased)
    if buyers is None:
        buyers = np.flatnonzero(relevant.getnnz(axis=1) > 0)
    engine = RecommendationEngine.build(model, data)
    recommended = np.vstack([engine.recommend(buyers[start:start + 2_000], K, niche=0.0)[0]
                             for start in range(0, len(buyers), 2_000)])
    return ({f"ndcg@{K}": float(ndcg_at_k(recommended, relevant[buyers], K)),
             f"recall@{K}": float(recall_at_k(recommended, relevant[buyers], K))}, buyers)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def backend_arguments(description: str) -> argparse.Namespace:
    """The command line of a local-against-Spark benchmark: the data (files, or a demo marketplace
    of ``--buyers`` x ``--items``), the Spark master and the test days."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--purchases", type=Path)
    parser.add_argument("--catalog", type=Path)
    parser.add_argument("--buyers", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--test-days", type=float, default=30)
    return parser.parse_args()


def main() -> None:
    args = backend_arguments(__doc__.splitlines()[0])

    from recommender.spark import spark_session
    from training.spark_train import spark_input

    config = TrainConfig()
    params = dict(FAMILIES["als"].starts[0].params)
    with tempfile.TemporaryDirectory() as tmp:
        paths = market_paths(args.purchases, args.catalog, tmp, args.buyers, args.items)
        train, test = temporal_split(load_dataset(*paths), args.test_days)
        train_file = write_parquet(train.purchases, Path(tmp) / "train.parquet")
        print(f"data: {paths[0]}: {len(train.purchases):,} training lines, {len(test.purchases):,} test lines "
              f"(last {args.test_days:g} days); ALS {params}")

        local_features_s, local_data = timed(lambda: config.training_data(train))
        local_model = ALSRecommender(**params)
        local_fit_s, _ = timed(lambda: local_model.fit(local_data))
        local_scores, buyers = score(local_model, local_data, test)
        library_model = ALSRecommender(**params, confidence="implicit")
        library_fit_s, _ = timed(lambda: library_model.fit(local_data))
        library_scores, _ = score(library_model, local_data, test, buyers)

        start = time.perf_counter()
        with spark_session(args.master, conf={"spark.ui.enabled": "false"}) as spark:
            spark.sparkContext.setLogLevel("ERROR")
            session_s = time.perf_counter() - start
            spark_features_s, spark_data = timed(
                lambda: spark_input(spark, train_file, paths[1]).training_data(config))
            spark_model = SparkALSRecommender(**params)
            spark_fit_s, _ = timed(lambda: spark_model.fit(spark_data))
        if list(spark_data.users.ids) != list(local_data.users.ids):
            raise SystemExit("the two backends encoded the buyers differently; the comparison would be wrong")
        spark_scores, _ = score(spark_model, spark_data, test, buyers)
        same = np.abs(spark_data.user_items - local_data.user_items).max()

    print(f"{len(buyers):,} test buyers; Spark regParam {spark_model.spark_reg_param_:.5f} for regularization "
          f"{params['regularization']}; largest difference between the backends' weighted matrices {same:.2g}")
    print(f"{'':22}{'features s':>11}{'ALS fit s':>11}{f'NDCG@{K}':>10}{f'Recall@{K}':>11}")
    for name, features_s, fit_s, scores in (("local (implicit)", local_features_s, local_fit_s, local_scores),
                                            ("local, alpha * weight", local_features_s, library_fit_s, library_scores),
                                            (f"spark ({args.master})", spark_features_s, spark_fit_s, spark_scores)):
        print(f"{name:22}{features_s:11.1f}{fit_s:11.1f}{scores[f'ndcg@{K}']:10.4f}{scores[f'recall@{K}']:11.4f}")
    print(f"(Spark session start-up, not counted above: {session_s:.1f} s)")
    ratio = spark_scores[f"ndcg@{K}"] / local_scores[f"ndcg@{K}"]
    print(f"\nspark / local: features time x{spark_features_s / local_features_s:.2f}, "
          f"ALS fit time x{spark_fit_s / local_fit_s:.2f}, "
          f"features + fit x{(spark_features_s + spark_fit_s) / (local_features_s + local_fit_s):.2f}; "
          f"NDCG@{K} x{ratio:.3f} ({(ratio - 1) * 100:+.1f}%); against the local ALS on alpha * weight "
          f"x{spark_scores[f'ndcg@{K}'] / library_scores[f'ndcg@{K}']:.3f}")


if __name__ == "__main__":
    main()
