"""Benchmark: the train job (model search included) and batch scoring, against raw implicit, in one run.

    python bench/train.py                      # demo marketplace, 100,000 buyers x 20,000 items (2M lines)
    python bench/train.py --purchases P --catalog C [--buyers-scored 50000]

Each measurement runs in a fresh process, so that its time and peak memory (max RSS) are its own:

* ``implicit ALS (load + fit)``, the baseline: the purchases loaded by our loader into the buyer x
  item matrix implicit takes (decayed quantities), then implicit's ``AlternatingLeastSquares(
  factors=64, iterations=15)`` fitted on it (BLAS held to one thread, implicit's advice), and its
  batch ``recommend`` for 20,000 buyers.
* ``our train job``: the whole ``recommender train`` with the default budget (data loading,
  validation split, model search, blend and niche tuning, final fit, the model directory written).
* ``final refit``: the refit of the model the search chose on all the data, from the job's own
  timings, next to that model's library fit on the same matrix and parameters measured here (for
  ALS and BPR implicit's own model; for the item-item families, which are ours, the same fit).
* ``batch recommend``: ``recommender recommend`` as a user runs it (a new process: start-up, model
  loading, scoring, writing the CSV) for ``--buyers-scored`` buyers at the default niche knob (the
  median of three runs), and in-process rates at niche 0 and the default knob, against implicit's
  batch ``recommend``.

The figures that matter are the ratios, printed last.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._process import market_paths, peak_mb, run, start_measuring

K = 20
FACTORS = 64
END_TO_END_RUNS = 3  # `recommender recommend` runs, the median reported (one run on a shared machine is noisy)
RECOMMENDER = Path(sys.executable).with_name("recommender")


def _implicit_als(queue, paths):
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from recommender.features.encoders import IdEncoder
    from recommender.features.interactions import confidence_matrix
    from recommender.loaders import load_dataset

    start_measuring()
    start = time.perf_counter()
    purchases = load_dataset(*paths).purchases
    matrix = confidence_matrix(purchases, (len(IdEncoder(purchases.user_id.cat.categories)),
                                           len(purchases.item_id.cat.categories)), 365.0)
    loaded = time.perf_counter() - start
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=FACTORS, iterations=15, random_state=0)
        start = time.perf_counter()
        model.fit(matrix, show_progress=False)
        fitted = time.perf_counter() - start
        users = np.arange(min(20_000, matrix.shape[0]))
        start = time.perf_counter()
        model.recommend(users, matrix[users], N=K, filter_already_liked_items=True)
        rate = len(users) / (time.perf_counter() - start)
    queue.put({"load": loaded, "fit": fitted, "seconds": loaded + fitted, "peak_mb": peak_mb(), "buyers_per_s": rate})


def _train_job(queue, paths, model_dir):
    start_measuring()
    start = time.perf_counter()
    subprocess.run([str(RECOMMENDER), "train", "--purchases", str(paths[0]), "--catalog", str(paths[1]),
                    "--out", str(model_dir), "--quiet"], check=True, stdout=subprocess.DEVNULL)
    queue.put({"seconds": time.perf_counter() - start})


def _library_fit(queue, paths, model_dir):
    """The chosen model's own library fit on the final training data, with its parameters."""
    from threadpoolctl import threadpool_limits

    from recommender.loaders import load_dataset
    from recommender.models import make_model
    from training.config import TrainConfig

    manifest = json.loads((Path(model_dir) / "manifest.json").read_text())
    config = TrainConfig.from_dict(manifest["parameters"])
    family, params = next(iter(config.components.items()))
    data = config.training_data(load_dataset(*paths))
    with threadpool_limits(1, "blas"):
        start = time.perf_counter()
        if family == "als":
            from implicit.cpu.als import AlternatingLeastSquares

            from recommender.models.als import confidences

            model = make_model(family, params)
            library = AlternatingLeastSquares(factors=model.factors, regularization=model.regularization, alpha=1.0,
                                              iterations=model.iterations, random_state=0)
            library.fit(confidences(data.user_items, model.alpha), show_progress=False)
        elif family == "bpr":
            model = make_model(family, params)
            model._implicit_model().fit(data.user_items, show_progress=False)
        else:
            make_model(family, params).fit(data)
    queue.put({"family": family, "params": params, "seconds": time.perf_counter() - start})


def _scoring(queue, model_dir, users_file):
    from recommender.artifacts import load_model_directory
    from training.recommend import read_ids, recommend_all

    engine, _ = load_model_directory(model_dir)
    users = read_ids(users_file)
    rates = {}
    for name, niche in (("niche 0", 0.0), (f"default niche {engine.default_niche:g}", None)):
        recommend_all(engine, users[:2_000], K, niche=niche)  # warm-up
        start = time.perf_counter()
        recommend_all(engine, users, K, niche=niche, threads=2)
        rates[name] = len(users) / (time.perf_counter() - start)
    queue.put({"rates": rates, "items": engine.n_items})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=Path)
    parser.add_argument("--catalog", type=Path)
    parser.add_argument("--buyers", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--buyers-scored", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = market_paths(args.purchases, args.catalog, tmp, args.buyers, args.items)
        model_dir = Path(tmp) / "model"
        baseline = run(_implicit_als, paths)
        job = run(_train_job, paths, model_dir)
        manifest = json.loads((model_dir / "manifest.json").read_text())
        library = run(_library_fit, paths, model_dir)
        refit = manifest["timings_seconds"]["final_fit"]
        search = manifest["validation"]["search"]

        from recommender.loaders import load_dataset

        buyers = load_dataset(*paths).purchases.user_id.cat.categories[:args.buyers_scored]
        users_file, recs_file = Path(tmp) / "users.csv", Path(tmp) / "recs.csv"
        users_file.write_text("user_id\n" + "\n".join(f'"{b}"' for b in buyers) + "\n", encoding="utf-8")
        end_to_end_runs = []
        for _ in range(END_TO_END_RUNS):
            start = time.perf_counter()
            subprocess.run([str(RECOMMENDER), "recommend", "--model", str(model_dir), "--users", str(users_file),
                            "--k", str(K), "--out", str(recs_file), "--quiet"], check=True, stdout=subprocess.DEVNULL)
            end_to_end_runs.append(len(buyers) / (time.perf_counter() - start))
        end_to_end = float(np.median(end_to_end_runs))
        scoring = run(_scoring, model_dir, users_file)

    print(f"data: {paths[0]}")
    print(f"implicit ALS (baseline): load {baseline['load']:.1f} s + fit {baseline['fit']:.1f} s = "
          f"{baseline['seconds']:.1f} s")
    print(f"our train job (default budget {search['budget_seconds']:.0f} s; search {search['seconds']:.0f} s, "
          f"{sum(t['status'] == 'ok' for t in search['trials'])} candidates): {job['seconds']:.1f} s")
    print(f"chosen: {library['family']} {library['params']}")
    print(f"final refit (features + the chosen model, content, popularity): {refit:.1f} s; "
          f"the chosen model's library fit alone: {library['seconds']:.1f} s")
    print(f"\nbatch scoring, top {K} of {scoring['items']:,} items, {len(buyers):,} buyers:")
    print(f"  implicit ALS recommend (baseline, in-process): {baseline['buyers_per_s']:,.0f} buyers/s")
    for name, rate in scoring["rates"].items():
        print(f"  ours in-process, {name}: {rate:,.0f} buyers/s (x{rate / baseline['buyers_per_s']:.2f} of implicit)")
    print(f"  ours end to end (`recommender recommend`: start-up, load, score, write CSV): {end_to_end:,.0f} buyers/s "
          f"(median of {', '.join(f'{rate:,.0f}' for rate in end_to_end_runs)})")
    print(f"\ntrain job / implicit load + fit: x{job['seconds'] / baseline['seconds']:.2f} (target 5)")
    print(f"final refit / library fit: x{refit / library['seconds']:.2f} (target 1.5)")
    print(f"end-to-end batch recommend: {end_to_end:,.0f} buyers/s (target 10,000)")


if __name__ == "__main__":
    main()
