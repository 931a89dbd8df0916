"""Benchmark: an item's audience over HTTP, and ``recommender audience`` for many items, each next to
a baseline measured in the same run.

    python bench/audience.py                      # demo marketplace, 100,000 buyers x 20,000 items
    python bench/audience.py --model DIR          # reuse a model directory (built there if missing)
    python bench/audience.py --requests 2000 --items 1000

Steps:

* a model, as ``bench/serve.py`` builds it (``--model DIR`` reused when it holds one);
* ``recommender serve`` (one worker, an admin key, the admin rate raised so the benchmark is not
  throttled) on 127.0.0.1; then, on one keep-alive connection, ``--requests`` requests alternating
  ``GET /v1/items/{id}/audience?k=100`` (items drawn from the catalog, the most bought and the
  never bought alike) and the baseline ``GET /v1/items/{id}/similar?k=100`` (the same items: the
  other item-side route), so both see the same drift of the shared machine; p50 and p99 of each;
* ``recommender audience`` for ``--items`` items (k=100, a CSV written), timed, next to
  ``recommender recommend`` for as many buyers (k=100): the buyer side of the same model.

Printed: the latencies and the ratios against the targets: audience p99 under 20 ms over HTTP, and
``recommender audience`` for 1,000 items in under a minute.
"""
from __future__ import annotations

import argparse
import http.client
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._process import run
from bench.serve import RECOMMENDER, model_directory
from tests.live_server import HOST, ServerProcess

KEY = "bench-audience-key"
P99_TARGET_MS = 20.0
BATCH_TARGET_SECONDS = 60.0
K = 100


def _sample(queue, model_dir: str, items: int, buyers: int, seed: int) -> None:
    from recommender.artifacts import load_model_directory

    engine, _ = load_model_directory(model_dir)
    rng = random.Random(seed)
    item_ids = [str(i) for i in engine.items.ids]
    user_ids = [str(u) for u in engine.users.ids]
    queue.put({"items": rng.sample(item_ids, min(items, len(item_ids))),
               "buyers": rng.sample(user_ids, min(buyers, len(user_ids))),
               "shape": (len(user_ids), len(item_ids))})


def latencies(port: int, paths: list[str]) -> list[float]:
    """Milliseconds of each request of ``paths`` on one keep-alive connection (non-200 stops the run)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    times = []
    for path in paths:
        start = time.perf_counter()
        connection.request("GET", path, headers={"X-API-Key": KEY})
        response = connection.getresponse()
        body = response.read()
        times.append(1000 * (time.perf_counter() - start))
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
    connection.close()
    return times


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=1000)[int(share * 1000) - 1]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=1800)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model directory to reuse (built there if missing)")
    parser.add_argument("--buyers", type=int, default=100_000)
    parser.add_argument("--catalog-items", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2_000, help="HTTP requests per route (default 2,000)")
    parser.add_argument("--items", type=int, default=1_000, help="items for recommender audience (default 1,000)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-audience-"))
    model_dir = model_directory(args.model, work, args.buyers, args.catalog_items)
    sample = run(_sample, str(model_dir), max(args.items, args.requests), args.items, 0)
    print(f"model {model_dir}: {sample['shape'][0]:,} buyers x {sample['shape'][1]:,} items")

    items = sample["items"]
    audience_paths = [f"/v1/items/{items[j % len(items)]}/audience?k={K}" for j in range(args.requests)]
    similar_paths = [f"/v1/items/{items[j % len(items)]}/similar?k={K}" for j in range(args.requests)]
    env = {"RECOMMENDER_ADMIN_KEY": KEY, "RECOMMENDER_ADMIN_RATE": "1000000/minute"}
    with ServerProcess(model_dir, 1, log_path=work / "server.log", env=env) as server:
        latencies(server.port, audience_paths[:50] + similar_paths[:50])  # warm-up
        measured: dict[str, list[float]] = {"audience": [], "similar (baseline)": []}
        step = 100
        for start in range(0, args.requests, step):  # interleaved slices: both routes see the same drift
            measured["audience"] += latencies(server.port, audience_paths[start:start + step])
            measured["similar (baseline)"] += latencies(server.port, similar_paths[start:start + step])
    print(f"\nHTTP, one connection, k={K}, {args.requests:,} requests each:")
    for name, values in measured.items():
        print(f"  {name:<20} p50 {percentile(values, 0.5):6.2f} ms   p99 {percentile(values, 0.99):6.2f} ms")

    item_file, user_file = work / "items.csv", work / "users.csv"
    item_file.write_text("item_id\n" + "\n".join(items[:args.items]) + "\n")
    user_file.write_text("user_id\n" + "\n".join(sample["buyers"]) + "\n")
    audience_seconds = timed([RECOMMENDER, "audience", "--model", str(model_dir), "--items", str(item_file),
                              "--k", str(K), "--out", str(work / "audience.csv")])
    recommend_seconds = timed([RECOMMENDER, "recommend", "--model", str(model_dir), "--users", str(user_file),
                               "--k", str(K), "--out", str(work / "recommend.csv"), "--quiet"])
    print(f"\nrecommender audience, {args.items:,} items (k={K} per part): {audience_seconds:.1f} s; "
          f"recommender recommend, {len(sample['buyers']):,} buyers (k={K}, baseline): {recommend_seconds:.1f} s "
          f"(x{audience_seconds / recommend_seconds:.2f})")

    p99 = percentile(measured["audience"], 0.99)
    print(f"\ntargets: audience p99 {p99:.2f} ms (< {P99_TARGET_MS:g}: {'met' if p99 < P99_TARGET_MS else 'MISSED'}); "
          f"recommender audience {audience_seconds:.1f} s for {args.items:,} items (< {BATCH_TARGET_SECONDS:g} s "
          f"per 1,000: {'met' if audience_seconds * 1000 / args.items < BATCH_TARGET_SECONDS else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
