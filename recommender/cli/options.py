"""Arguments and argument types several commands share, and the training inputs they describe."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from recommender.contract import UNKNOWN_ITEM_POLICIES, FileFormat


def add_file_options(parser: argparse.ArgumentParser) -> None:
    """How purchase and catalog files are read: ``--unknown-items`` (purchases of items missing from
    the catalog), ``--date-format`` and ``--decimal-comma`` (a shop export's times and numbers)."""
    parser.add_argument("--unknown-items", choices=UNKNOWN_ITEM_POLICIES, default="drop",
                        help="purchases of items missing from the catalog: drop them (default) "
                             "or add the items to the catalog")
    parser.add_argument("--date-format", metavar="FORMAT", default=None,
                        help="how the purchases' times are written, in strftime codes, e.g. '%%d/%%m/%%Y %%H:%%M' "
                             "for 31/01/2025 14:05 (UTC unless the format has %%z; default: ISO 8601 or epoch "
                             "seconds)")
    add_decimal_comma(parser)


def add_decimal_comma(parser: argparse.ArgumentParser) -> None:
    """``--decimal-comma``: the files' numbers are written with a decimal comma."""
    parser.add_argument("--decimal-comma", action="store_true",
                        help="numbers (prices, quantities) are written with a decimal comma, e.g. 35,50")


def file_format(args: argparse.Namespace) -> FileFormat:
    """The :class:`~recommender.contract.FileFormat` of ``--date-format`` (when the command has it) and
    ``--decimal-comma``."""
    return FileFormat(getattr(args, "date_format", None), args.decimal_comma)


def add_files(parser: argparse.ArgumentParser) -> None:
    """A purchases file, an optional catalog and how to read them (``validate``'s arguments)."""
    parser.add_argument("--purchases", type=Path, required=True, help="purchases file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--catalog", type=Path, default=None, help="catalog file (CSV, CSV.gz or Parquet)")
    add_file_options(parser)


def add_inputs(parser: argparse.ArgumentParser, spark: bool = False) -> None:
    """Arguments every training-side command takes: the data, a config, progress, policies
    (``spark``: the command has ``--backend spark``, which reads more than files)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--purchases", type=location if spark else Path,
                        help="purchases file (CSV, CSV.gz or Parquet" +
                             ("; with --backend spark, anything Spark reads)" if spark else ")"))
    source.add_argument("--from-store", metavar="URL", default=None,
                        help="the purchases of an event store (sqlite:///PATH or postgresql://USER@HOST/DB), net of "
                             "returns, instead of a file")
    parser.add_argument("--catalog", type=Path, required=True, help="catalog file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--config", type=Path, default=None, help="training config (JSON or TOML), e.g. from tune")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_file_options(parser)


def add_budget(parser: argparse.ArgumentParser, default: str) -> None:
    """``--budget``: minutes for the model search; ``default`` says what it is when not given."""
    parser.add_argument("--budget", type=float, default=None, metavar="MINUTES",
                        help=f"time for the model search, in minutes (default: {default})")


def add_as_of(parser: argparse.ArgumentParser) -> None:
    """``--date``: the day whose end repeat timing is scored at (default: now), as the API's ``date``."""
    parser.add_argument("--date", type=day, default=None, metavar="YYYY-MM-DD",
                        help="score repeat timing as of the end of this day (UTC; default: now; a day before the "
                             "model's data end counts as its end)")


def day(text: str) -> date:
    """A ``YYYY-MM-DD`` argument as a date, or an argparse error saying what was given."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {text!r}") from None


def as_of_us(args: argparse.Namespace) -> int:
    """``--date``'s end (the next day's midnight, UTC), or now, in microseconds since the epoch."""
    from recommender.models.repeat import day_end_us

    return int(datetime.now(UTC).timestamp() * 1_000_000) if args.date is None else day_end_us(args.date)


def add_test_days(parser: argparse.ArgumentParser) -> None:
    """``--test-days``: the days held out at the end of the data."""
    parser.add_argument("--test-days", type=float, default=30,
                        help="days at the end held out as the test split (default 30)")


def training_config(args: argparse.Namespace):
    """The training config of ``--config`` (default: search the model), with ``--budget`` applied."""
    from training.config import TrainConfig

    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    budget = getattr(args, "budget", None)
    if budget is not None:
        config = config.replaced("--budget", budget_minutes=budget)
    return config


def training_data(args: argparse.Namespace):
    """The dataset of ``--purchases`` or ``--from-store``, with ``--catalog``."""
    from recommender.loaders import load_store_dataset

    if args.from_store:
        return load_store_dataset(args.from_store, args.catalog, unknown_items=args.unknown_items,
                                  file_format=file_format(args))
    return file_dataset(args)


def file_dataset(args: argparse.Namespace, purchases: Path | None = None):
    """The dataset of the purchases file ``purchases`` (default ``--purchases``) and ``--catalog``, read
    as :func:`add_file_options`' options say."""
    from recommender.loaders import load_dataset

    return load_dataset(purchases or args.purchases, args.catalog, unknown_items=args.unknown_items,
                        file_format=file_format(args))


def location(text: str) -> Path | str:
    """A local path, or a URL (``hdfs://``, ``s3a://``, ...) kept as text, which Path would mangle."""
    return text if "://" in text else Path(text)


def duration(text: str) -> float:
    """Seconds of ``30s``, ``15m``, ``1h`` or a plain number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration such as 30s, 15m or 1h: {text!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"the interval must be positive, got {text!r}")
    return seconds


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value
    return parse
