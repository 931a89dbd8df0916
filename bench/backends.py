"""Benchmark: the whole training job on one machine and on Spark (local[2]), same data, same config.

    python bench/backends.py                      # demo marketplace, 20,000 buyers x 2,000 items
    python bench/backends.py --purchases P --catalog C [--master local[2]] [--test-days 30]

The data is cut by time (:func:`recommender.splits.temporal_split`, the last ``--test-days``
days test). The training part goes through ``recommender train`` on both backends with the
default config: the same deterministic model search over the same families (ALS fitted by Spark
ML on Spark, EASE's Gram matrix computed there), the blend, the niche knob, the refit. Both
backends' models are scored on the same test buyers as ``recommender evaluate`` scores them (items
new to the buyer, top 10, purchases excluded): NDCG@10 and Recall@10 at niche 0 and at the
served default knob, with what each search chose and how long each job took.
"""
from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._process import market_paths
from bench.spark import K, backend_arguments, write_parquet
from recommender.loaders import load_dataset
from recommender.metrics import ndcg_at_k, recall_at_k
from recommender.splits import relevance_matrix, temporal_split
from training.config import TrainConfig
from training.search import describe_trial
from training.train import TrainResult, train


def scores(result: TrainResult, test) -> dict:
    """NDCG@K and Recall@K of a trained engine's lists at niche 0 and at its default knob."""
    engine = result.engine
    relevant = relevance_matrix(test, engine.users, engine.n_items, engine.purchased)
    buyers = np.flatnonzero(relevant.getnnz(axis=1) > 0)
    out = {"buyers": len(buyers)}
    for label, niche in (("niche 0", 0.0), (f"default {engine.default_niche:g}", None)):
        lists, _ = engine.recommend(buyers, K, niche=niche)
        out[label] = (float(ndcg_at_k(lists, relevant[buyers], K)), float(recall_at_k(lists, relevant[buyers], K)))
    return out


def main() -> None:
    args = backend_arguments(__doc__.splitlines()[0])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from training.spark_train import train_with_spark

    config = TrainConfig()
    with tempfile.TemporaryDirectory() as tmp:
        paths = market_paths(args.purchases, args.catalog, tmp, args.buyers, args.items)
        train_part, test = temporal_split(load_dataset(*paths), args.test_days)
        train_file = write_parquet(train_part.purchases, Path(tmp) / "train.parquet")
        print(f"data: {paths[0]}: {len(train_part.purchases):,} training lines, {len(test.purchases):,} test lines "
              f"(last {args.test_days:g} days)", flush=True)
        results = {}
        for name, run in (("local", lambda: train(train_part, config)),
                          (f"spark ({args.master})", lambda: train_with_spark(
                              train_file, paths[1], config, master=args.master))):
            start = time.perf_counter()
            result = run()
            results[name] = (time.perf_counter() - start, result, scores(result, test))
            print(f"{name}: trained in {results[name][0]:.0f} s", flush=True)

    print(f"\n{'backend':18}{'train s':>8}  {'chosen by the search':60}{'NDCG@10 n0':>11}{'default':>9}"
          f"{'NDCG@10':>9}{'Recall@10':>10}")
    for name, (seconds, result, measured) in results.items():
        search = result.validation["search"]
        default = next(label for label in measured if label.startswith("default"))
        print(f"{name:18}{seconds:8.0f}  {describe_trial(search['best'])[:58]:60}{measured['niche 0'][0]:11.4f}"
              f"{default.split()[1]:>9}{measured[default][0]:9.4f}{measured[default][1]:10.4f}")
    (local_s, local, local_scores), (spark_s, spark, spark_scores) = results.values()
    same = all(local.validation["search"]["best"][key] == spark.validation["search"]["best"][key]
               for key in ("family", "params", "weighting"))
    default = next(label for label in local_scores if label.startswith("default"))
    spark_default = next(label for label in spark_scores if label.startswith("default"))
    ratio = spark_scores[spark_default][0] / local_scores[default][0]
    print(f"\nspark / local: NDCG@10 at the served knob x{ratio:.3f} ({(ratio - 1) * 100:+.1f}%), at niche 0 "
          f"x{spark_scores['niche 0'][0] / local_scores['niche 0'][0]:.3f}; train time x{spark_s / local_s:.1f}; "
          f"the searches chose {'the same' if same else 'different'} candidates; "
          f"{local_scores['buyers']:,} test buyers")


if __name__ == "__main__":
    main()
