"""Commands on data files: the demo marketplace, checking files against the contract, importing
public data sets."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from recommender.cli.commands import Group
from recommender.cli.options import add_files, file_dataset
from recommender.datasets import UCI_ONLINE_RETAIL

log = logging.getLogger("recommender")
commands = Group()


def _add_demo_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="directory for purchases.csv and catalog.csv")
    parser.add_argument("--buyers", type=int, default=20_000, help="number of buyers (default 20,000)")
    parser.add_argument("--items", type=int, default=2_000, help="number of catalog items (default 2,000)")
    parser.add_argument("--purchases", type=int, default=None,
                        help="number of purchase lines (default: about 20 per buyer)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files")


@commands.command("demo-data", "write the embedded demo marketplace (purchases.csv, catalog.csv)", _add_demo_data)
def run_demo_data(args: argparse.Namespace) -> int:
    """Write the demo marketplace's files."""
    from recommender.demo_marketplace import write_demo_marketplace

    paths = write_demo_marketplace(args.out, buyers=args.buyers, items=args.items, seed=args.seed,
                                   purchases=args.purchases)
    for name, path in paths.items():
        log.info("wrote %s: %s", name, path)
    return 0


@commands.command("validate", "check purchase and catalog files against the data contract", add_files)
def run_validate(args: argparse.Namespace) -> int:
    """Load the files as the jobs do and print their summary."""
    print(file_dataset(args).summary())
    return 0


def _add_import_uci(parser: argparse.ArgumentParser) -> None:
    parser.epilog = f"Where to get it: {UCI_ONLINE_RETAIL.where_to_get()}."
    parser.add_argument("--source", type=Path, default=None,
                        help="the UCI Online Retail file: CSV, CSV.gz or Parquet (default: the copy staged in "
                             "../shared/data/uci_online_retail/online_retail.csv.gz next to the project's "
                             "directory, if there is one)")
    parser.add_argument("--out", type=Path, required=True, help="directory for purchases.csv.gz and catalog.csv")
    parser.add_argument("--no-compress", action="store_true", help="write purchases.csv instead of .csv.gz")


@commands.command("import-uci", "turn the UCI Online Retail data set into contract files", _add_import_uci)
def run_import_uci(args: argparse.Namespace) -> int:
    """Write the UCI Online Retail data set as contract files."""
    from recommender.importers.uci_online_retail import default_source, import_online_retail

    report = import_online_retail(args.source or default_source(), args.out, compress=not args.no_compress)
    print(report.summary())
    return 0
