"""The data contract: which columns purchase and catalog files carry, and what each means.

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

Policies, applied by the loaders and counted in their report:
    * a purchase line with ``quantity <= 0`` (return, cancellation) is excluded from the data;
    * a purchase of an item missing from the catalog is excluded (``unknown_items="drop"``,
      the default) or the item is added to the catalog with its id as title (``"add"``);
    * anything else that breaks the contract stops the load with a :class:`ContractError`
      naming the file, the row and the column.
"""
from __future__ import annotations

from dataclasses import dataclass

PURCHASE_REQUIRED = ("user_id", "item_id", "timestamp")
PURCHASE_OPTIONAL = ("quantity", "order_id", "price", "city", "city_tier")
CATALOG_REQUIRED = ("item_id", "title")
CATALOG_OPTIONAL = ("description", "category", "region", "merchant_id", "price", "tags", "available")

TAG_SEPARATOR = ";"
MAX_CITY_TIER = 5
UNKNOWN_TIER = 0
UNKNOWN_LABEL = "unknown"
UNKNOWN_ITEM_POLICIES = ("drop", "add")

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f"})


class ContractError(ValueError):
    """A file breaks the data contract; the message names the file, the row and the column."""


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

    def error(self) -> ContractError:
        where = f"row {self.first_row + 1}" + (f" (line {self.line})" if self.line else "")
        shown = "" if self.value is None else f" (value {_shortened(repr(self.value))})"
        others = f"; {self.count} rows in all have this problem" if self.count > 1 else ""
        return ContractError(f"{self.path}: {where}, column '{self.column}': {self.problem}{shown}{others}")


def _shortened(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
