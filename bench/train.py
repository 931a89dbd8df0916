"""Benchmark: training and batch scoring against raw implicit ALS, measured in the same run.

    python bench/train.py                      # demo marketplace, 100,000 buyers x 20,000 items
    python bench/train.py --purchases P --catalog C

Each measurement runs in a fresh process so that its peak memory (max RSS) is its own:

* ``implicit ALS``: implicit's ``AlternatingLeastSquares(factors=64, iterations=15)`` fitted on our
  weighted interaction matrix (BLAS limited to one thread, implicit's advice): the baseline.
* ``final fit``: our pipeline without the validation step: features (interactions, content
  features and embedding) and the hybrid's components, as ``recommender train`` refits at the end.
* ``train job``: the whole ``recommender train`` (validation split, blend tuning, niche curve,
  final fit).

"peak MB" is the step's own peak resident memory (the peak counter is reset once the data is
loaded, so loading's own peak does not count); "MB over loading" is that peak minus the memory
the loaded data already took: what the step itself adds.

Then batch scoring: buyers per second for top-20 lists with ``recommend_all`` (2 threads) at
niche 0 and at the model's default knob, against implicit's batch ``recommend`` on its own model.
The figures that matter are the ratios, printed last.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._process import market_paths, peak_mb, run, start_measuring  # noqa: E402

K = 20
FACTORS = 64


def _load(paths):
    from recommender.loaders import load_dataset

    return load_dataset(*paths)


def _implicit_als(queue, paths):
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from training.config import TrainConfig

    data = TrainConfig().training_data(_load(paths))
    loaded = start_measuring()
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=FACTORS, iterations=15, random_state=0)
        start = time.perf_counter()
        model.fit(data.user_items, show_progress=False)
        seconds = time.perf_counter() - start
        users = np.arange(min(20_000, data.n_users))
        start = time.perf_counter()
        model.recommend(users, data.user_items[users], N=K, filter_already_liked_items=True)
        rate = len(users) / (time.perf_counter() - start)
    queue.put({"seconds": seconds, "peak_mb": peak_mb(), "loaded_mb": loaded, "buyers_per_s": rate})


def _final_fit(queue, paths):
    from threadpoolctl import threadpool_limits

    from training.config import TrainConfig
    from training.train import make_hybrid

    dataset = _load(paths)
    loaded = start_measuring()
    config = TrainConfig()
    start = time.perf_counter()
    with threadpool_limits(1, "blas"):
        data = config.training_data(dataset)
        make_hybrid(config).fit(data)
    queue.put({"seconds": time.perf_counter() - start, "peak_mb": peak_mb(), "loaded_mb": loaded})


def _train_job(queue, paths, model_dir):
    from recommender.artifacts import save_model_directory
    from training.config import TrainConfig
    from training.train import manifest_fields, train

    dataset = _load(paths)
    loaded = start_measuring()
    config = TrainConfig()
    start = time.perf_counter()
    result = train(dataset, config, show_progress=False)
    seconds = time.perf_counter() - start
    save_model_directory(model_dir, result.engine, manifest_fields(result, config, {}))
    queue.put({"seconds": seconds, "peak_mb": peak_mb(), "loaded_mb": loaded})


def _scoring(queue, model_dir):
    from recommender.artifacts import load_model_directory
    from training.recommend import recommend_all

    engine, _ = load_model_directory(model_dir)
    users = engine.users.ids[: min(50_000, len(engine.users))]
    rates = {}
    for name, niche in (("niche 0", 0.0), (f"default niche {engine.default_niche:g}", None)):
        recommend_all(engine, users[:2_000], K, niche=niche)  # warm-up
        start = time.perf_counter()
        recommend_all(engine, users, K, niche=niche, threads=2)
        rates[name] = len(users) / (time.perf_counter() - start)
    queue.put({"rates": rates, "items": engine.n_items, "buyers": len(users)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=Path)
    parser.add_argument("--catalog", type=Path)
    parser.add_argument("--buyers", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--skip-train-job", action="store_true", help="skip the (slow) full train job")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = market_paths(args.purchases, args.catalog, tmp, args.buyers, args.items)
        model_dir = Path(tmp) / "model"
        baseline = run(_implicit_als, paths)
        final = run(_final_fit, paths)
        print(f"data: {paths[0]}")
        print(f"{'':28}{'seconds':>9}{'peak MB':>10}{'MB over loading':>17}")
        rows = [("implicit ALS (baseline)", baseline), ("our final fit", final)]
        if not args.skip_train_job:
            rows.append(("our train job", run(_train_job, paths, model_dir)))
        for name, row in rows:
            print(f"{name:28}{row['seconds']:9.1f}{row['peak_mb']:10.0f}{row['peak_mb'] - row['loaded_mb']:17.0f}")
        print()
        for name, row in rows[1:]:
            print(f"{name} / implicit ALS: time x{row['seconds'] / baseline['seconds']:.2f}, "
                  f"peak memory x{row['peak_mb'] / baseline['peak_mb']:.2f}")
        if args.skip_train_job:
            return
        scoring = run(_scoring, model_dir)
        print(f"\nbatch scoring, top {K} of {scoring['items']:,} items, {scoring['buyers']:,} buyers:")
        print(f"  implicit ALS recommend (baseline): {baseline['buyers_per_s']:,.0f} buyers/s")
        for name, rate in scoring["rates"].items():
            print(f"  our hybrid, {name}: {rate:,.0f} buyers/s "
                  f"(x{rate / baseline['buyers_per_s']:.2f} of implicit)")


if __name__ == "__main__":
    main()
