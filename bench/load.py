"""Benchmark: peak memory and speed of the contract loaders on a large purchases file.

    python bench/load.py                        # a 10-million-line demo purchases.csv
    python bench/load.py --purchases P [--catalog C]

The load runs in a fresh process. Its own peak memory (the peak counter is reset right before
loading, with Python, numpy, pandas and pyarrow imported) less the memory in use at that point
is compared with the file's size on disk: the contract promises a small multiple, because columns are typed
(categorical ids, datetime64, float32), not Python objects per row. Baseline in the same run:
``pandas.read_csv`` of the same file with default options.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._process import peak_mb, run, start_measuring


def _contract_load(queue, purchases, catalog):
    import pandas  # noqa: F401  (imported before the baseline is taken)
    import pyarrow  # noqa: F401

    from recommender.loaders import load_dataset

    before = start_measuring()
    start = time.perf_counter()
    data = load_dataset(purchases, catalog)
    queue.put({"seconds": time.perf_counter() - start, "before_mb": before, "peak_mb": peak_mb(),
               "rows": len(data.purchases)})


def _pandas_load(queue, purchases, catalog):
    import pandas

    before = start_measuring()
    start = time.perf_counter()
    frame = pandas.read_csv(purchases)
    queue.put({"seconds": time.perf_counter() - start, "before_mb": before, "peak_mb": peak_mb(),
               "rows": len(frame)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=Path)
    parser.add_argument("--catalog", type=Path)
    parser.add_argument("--lines", type=int, default=10_000_000, help="demo purchase lines when no file is given")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.purchases:
            purchases, catalog = args.purchases, args.catalog
        else:
            from recommender.demo_marketplace import write_demo_marketplace

            start = time.perf_counter()
            paths = write_demo_marketplace(tmp, buyers=args.lines // 20, items=20_000, purchases=args.lines)
            print(f"generated {args.lines:,} demo purchase lines in {time.perf_counter() - start:.1f} s")
            purchases, catalog = paths["purchases"], paths["catalog"]
        size_mb = purchases.stat().st_size / 2**20
        print(f"file: {purchases} ({size_mb:,.0f} MB)")
        print(f"{'':24}{'seconds':>9}{'rows':>14}{'peak MB':>10}{'MB used':>10}{'x file size':>13}")
        for name, target in (("contract loader", _contract_load), ("pandas.read_csv", _pandas_load)):
            row = run(target, purchases, catalog)
            used = row["peak_mb"] - row["before_mb"]
            print(f"{name:24}{row['seconds']:9.1f}{row['rows']:14,}{row['peak_mb']:10,.0f}{used:10,.0f}"
                  f"{used / size_mb:13.2f}")


if __name__ == "__main__":
    main()
