"""The ``recommender`` command line: one sub-command per job.

Each sub-command is a function ``run_<name>(args) -> int`` registered in :data:`COMMANDS`
with its arguments; heavy imports happen inside the functions so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from recommender.contract import UNKNOWN_ITEM_POLICIES, ContractError

log = logging.getLogger("recommender")


def run_demo_data(args: argparse.Namespace) -> int:
    from recommender.demo_marketplace import write_demo_marketplace

    paths = write_demo_marketplace(args.out, buyers=args.buyers, items=args.items, seed=args.seed,
                                   purchases=args.purchases)
    for name, path in paths.items():
        log.info("wrote %s: %s", name, path)
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from recommender.loaders import load_dataset

    dataset = load_dataset(args.purchases, args.catalog, unknown_items=args.unknown_items)
    print(dataset.summary())
    return 0


def run_import_uci(args: argparse.Namespace) -> int:
    from recommender.importers.uci_online_retail import import_online_retail

    report = import_online_retail(args.source, args.out, compress=not args.no_compress)
    print(report.summary())
    return 0


def _add_demo_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="directory for purchases.csv and catalog.csv")
    parser.add_argument("--buyers", type=int, default=20_000, help="number of buyers (default 20,000)")
    parser.add_argument("--items", type=int, default=2_000, help="number of catalog items (default 2,000)")
    parser.add_argument("--purchases", type=int, default=None,
                        help="number of purchase lines (default: about 20 per buyer)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files")


def _add_validate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--purchases", type=Path, required=True, help="purchases file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--catalog", type=Path, default=None, help="catalog file (CSV, CSV.gz or Parquet)")
    _add_unknown_items(parser)


def _add_unknown_items(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--unknown-items", choices=UNKNOWN_ITEM_POLICIES, default="drop",
                        help="purchases of items missing from the catalog: drop them (default) "
                             "or add the items to the catalog")


def _add_import_uci(parser: argparse.ArgumentParser) -> None:
    from recommender.importers.uci_online_retail import default_source

    default = default_source()
    parser.add_argument("--source", type=Path, default=default, help=f"UCI Online Retail CSV (default {default})")
    parser.add_argument("--out", type=Path, required=True, help="directory for purchases.csv.gz and catalog.csv")
    parser.add_argument("--no-compress", action="store_true", help="write purchases.csv instead of .csv.gz")


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "demo-data": ("write the embedded demo marketplace (purchases.csv, catalog.csv)", _add_demo_data, run_demo_data),
    "validate": ("check purchase and catalog files against the data contract", _add_validate, run_validate),
    "import-uci": ("turn the UCI Online Retail data set into contract files", _add_import_uci, run_import_uci),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="recommender", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        command.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``recommender`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except (ContractError, ValueError, FileNotFoundError) as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
