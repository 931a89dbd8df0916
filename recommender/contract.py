"""The data contract: which columns purchase and catalog files carry, and what each means.

Files are CSV (``.csv`` or ``.tsv``, plain or gzip-compressed as ``.csv.gz``, ``.tsv.gz``) or
Parquet (``.parquet``, ``.pq``). A CSV file
    * starts with a header line naming its columns, in any order (other columns are ignored);
    * separates fields by commas, semicolons, tabs or ``|``: whichever of these its header line
      holds most of (on a tie the comma, or the tab in a ``.tsv`` file). A value that holds the
      separator, a double quote or (catalog only) a line break is quoted, as spreadsheets save
      it: in a semicolon-separated file, ``tags`` of more than one label are quoted;
    * is UTF-8 text, with or without a byte-order mark. A file saved in another encoding (GBK,
      Latin-1, UTF-16: spreadsheets often do) is refused at its first value that is not UTF-8,
      the error naming its row and column, the encoding the file is probably in and how the
      value reads in it: save the file as UTF-8.
Parquet text columns are UTF-8 too.

Purchases (one row per order line):
    user_id     required  buyer id, non-empty text
    item_id     required  item id, non-empty text (matches the catalog's item_id)
    timestamp   required  ISO 8601 (``2025-06-18``, ``2025-06-18T10:30:00``, with ``Z`` or an
                          offset) or epoch seconds; naive times are taken as UTC
    quantity    optional  number of units, default 1; ``<= 0`` marks a return or cancellation
    order_id    optional  groups lines of one order
    price       optional  unit price paid
    city        optional  buyer's city
    city_tier   optional  1 (Beijing, Shanghai, ...) to 5; empty means unknown (stored as 0)

Catalog (one row per item):
    item_id     required  unique, non-empty
    title       required  non-empty
    description, category, region, merchant_id   optional text
    price       optional  list price
    tags        optional  semicolon-separated labels, e.g. ``handmade;brand_certified;priority_region``
    available   optional  true/false (also 1/0, yes/no), default true
    product_id  optional  listings of one product by several merchants share it (shown once in a
                          list); where empty, near-identical titles in a category are one product
    season      optional  the months an item is in season, e.g. ``6-8``, ``6,7,8`` or ``11-2``
                          (wrapping past December); empty: none declared (purchases tell)

Policies, applied by the loaders and counted in their report:
    * a purchase line with ``quantity <= 0`` (return, cancellation) is excluded from the data;
    * a purchase of an item missing from the catalog is excluded (``unknown_items="drop"``,
      the default) or the item is added to the catalog with its id as title (``"add"``); the
      report names how many such items and lines there are, up to five of the ids, the first
      line's row and the other policy (``--unknown-items add`` or ``drop``);
    * anything else that breaks the contract stops the load with a :class:`ContractError`
      naming the file, the row (and a CSV file's line) and the column; a missing column's error
      lists the columns found.

Shop exports that write times or numbers their own way are read with a :class:`FileFormat`
(the commands' ``--date-format`` and ``--decimal-comma``), which the error of a time or number
that needs one names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

PURCHASE_REQUIRED = ("user_id", "item_id", "timestamp")
PURCHASE_OPTIONAL = ("quantity", "order_id", "price", "city", "city_tier")
CATALOG_REQUIRED = ("item_id", "title")
CATALOG_OPTIONAL = ("description", "category", "region", "merchant_id", "price", "tags", "available", "product_id",
                    "season")

CSV_DELIMITERS = (",", ";", "\t", "|")
TAG_SEPARATOR = ";"
MAX_CITY_TIER = 5
UNKNOWN_TIER = 0
UNKNOWN_LABEL = "unknown"
UNKNOWN_ITEM_POLICIES = ("drop", "add")
UnknownItemEventPolicy = Literal["store", "refuse"]  # a server's events of items its catalog lacks
UNKNOWN_ITEM_EVENT_POLICIES: tuple[UnknownItemEventPolicy, ...] = get_args(UnknownItemEventPolicy)

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f"})


class ContractError(ValueError):
    """A file breaks the data contract; the message names the file, the row and the column."""


@dataclass(frozen=True)
class FileFormat:
    """How a file writes times and numbers when not as the contract does: ``date_format``, the times'
    format in ``strftime`` codes (e.g. ``%d/%m/%Y %H:%M``; None: ISO 8601 or epoch seconds; without
    ``%z`` a time is UTC), and ``decimal_comma``, numbers written with a decimal comma (``35,50``)."""

    date_format: str | None = None
    decimal_comma: bool = False


def missing_columns(path: object, missing: list[str], found: list[str]) -> ContractError:
    """The error of a file that lacks the required columns ``missing``, listing the columns ``found``."""
    return ContractError(f"{path}: missing required column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(name) for name in missing)} (found: {', '.join(found) or 'no columns'})")


@dataclass(frozen=True)
class BadRows:
    """Where a column first breaks the contract, and how many rows do."""

    path: str
    column: str
    problem: str
    first_row: int  # 0-based position among data rows
    value: object
    count: int
    line: int | None  # the row's line in a CSV file, when known
    advice: str = ""  # what to do about it, when more than the problem says

    def error(self) -> ContractError:
        where = f"row {self.first_row + 1}" + (f" (line {self.line})" if self.line else "")
        shown = "" if self.value is None else f" (value {shortened(repr(self.value))})"
        others = f"; {self.count} rows in all have this problem" if self.count > 1 else ""
        advice = f"; {self.advice}" if self.advice else ""
        return ContractError(f"{self.path}: {where}, column '{self.column}': {self.problem}{shown}{others}{advice}")


def shortened(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
