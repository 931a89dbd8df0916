"""Speed of the demo-marketplace generator: purchase lines per second, generation plus writing.

    python bench/demo_data.py [PURCHASES] [--buyers N] [--items N] [--seed N] [--format csv|csv.gz|parquet]

PURCHASES defaults to 10,000,000 and buyers to PURCHASES / 20 (the generator's default ratio).
Files go to a temporary directory that is removed afterwards.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.demo_marketplace import generate_marketplace
from recommender.tables import write_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("purchases", nargs="?", type=int, default=10_000_000, help="purchase lines (default 10M)")
    parser.add_argument("--buyers", type=int, default=None, help="buyers (default purchases / 20)")
    parser.add_argument("--items", type=int, default=2_000, help="catalog items (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=("csv", "csv.gz", "parquet"), default="csv")
    args = parser.parse_args(argv)
    buyers = args.buyers if args.buyers is not None else max(1, args.purchases // 20)

    t0 = time.perf_counter()
    market = generate_marketplace(buyers=buyers, items=args.items, seed=args.seed, purchases=args.purchases)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="demo_data_") as tmp:
        purchases_path = write_table(market.purchases, Path(tmp) / f"purchases.{args.format}")
        write_table(market.catalog, Path(tmp) / f"catalog.{args.format}")
        size = purchases_path.stat().st_size
        t2 = time.perf_counter()
    rows = market.purchases.num_rows
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux
    print(f"purchases: {rows:,} lines, {buyers:,} buyers, {args.items:,} items, seed {args.seed}")
    print(f"generate:  {t1 - t0:8.2f} s  {rows / (t1 - t0):>12,.0f} purchases/s")
    print(f"write:     {t2 - t1:8.2f} s  {size / 2**20:,.0f} MiB {args.format}")
    print(f"total:     {t2 - t0:8.2f} s  {rows / (t2 - t0):>12,.0f} purchases/s")
    print(f"peak RSS:  {peak_mib:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
