"""Importer for the UCI "Online Retail" data set (a UK online giftware retailer, 2010-12 to 2011-12).

Where it comes from (:data:`recommender.datasets.UCI_ONLINE_RETAIL`): the UCI Machine Learning
Repository, https://archive.ics.uci.edu/dataset/352/online+retail (Chen, D. (2015),
https://doi.org/10.24432/C5BW33), under CC BY 4.0: whoever publishes results on it credits the source.
It is published as the workbook ``Online Retail.xlsx``; saved as CSV (its month/day/year times
included) it is read as it is. Nothing is downloaded: without ``--source`` the importer reads the
copy staged next to the project root
(``../shared/data/uci_online_retail/online_retail.csv.gz``, 541,909 rows, its provenance in the
``README.md`` beside it), and a missing file is an error saying where to get the data set.

Source layout: one row per invoice line, columns ``InvoiceNo, StockCode, Description, Quantity,
InvoiceDate, UnitPrice, CustomerID, Country`` (CSV, CSV.gz or Parquet).

The importer writes ``purchases.csv.gz`` (``purchases.csv`` with ``compress=False``) and
``catalog.csv`` under the data contract (:mod:`recommender.contract`), each file atomically.

Purchases, one row per kept invoice line:

* ``user_id``   = ``CustomerID`` (a trailing ``.0`` from a float export is removed). Rows without
  one are dropped and counted ("no CustomerID"): they cannot be attributed to a buyer.
* ``item_id``   = ``StockCode``, stripped and upper-cased (``85123a`` and ``85123A`` are one item).
  Products have codes of five digits plus at most two letters (``22423``, ``85123A``,
  ``15056BL``). Every other code is a service or bookkeeping line, dropped and counted
  ("non-product StockCode"): ``POST``/``DOT``/``C2`` (postage, carriage), ``M`` (manual),
  ``D`` (discount), ``S`` (samples), ``B`` (bad-debt adjustment), ``BANK CHARGES``,
  ``AMAZONFEE``, ``CRUK`` (commission), ``PADS``, ``gift_0001_*`` (vouchers), ``DCGS*``
  (dotcom-giftshop bookkeeping codes, none of which has a CustomerID). Three five-digit codes
  are services too and are dropped the same way: ``23444`` "Next Day Carriage", ``23574``
  "PACKING CHARGE" and ``23702`` "High Resolution Image" (see :data:`SERVICE_CODES`).
* ``timestamp`` = ``InvoiceDate`` as ISO 8601 with ``Z``. The source is UK local time with
  minute resolution; it is treated as UTC (at most one hour off in British Summer Time). Read
  from ISO text (the staged file), native Parquet timestamps, or the ``12/1/2010 8:26``
  month/day/year text of some CSV exports of the workbook.
* ``quantity``  = ``Quantity``, as is, including the negative quantities of cancellations
  (invoices ``C...``). The importer does not drop them: the contract's loader excludes
  ``quantity <= 0`` lines and counts them, so that policy is applied in one place.
* ``order_id``  = ``InvoiceNo``;  ``price`` = ``UnitPrice`` (GBP per unit). Rows with
  ``UnitPrice <= 0`` (adjustments, free samples, write-offs) are dropped and counted here.
* ``city``      = ``Country``: it is the customer's **country**, not a city (the data set has no
  finer location); ``Unspecified`` is written empty (the loader's "unknown").
* ``city_tier`` is empty: the data set has no tier information.

A dropped row is counted once, under the first reason that applies, in the order: no CustomerID,
non-product StockCode, UnitPrice <= 0. Exact duplicate lines (present in the original workbook)
are kept as they are.

Catalog, one row per item_id that appears in the written purchases, sorted by item_id:

* ``title``       = the item's most frequent Description over its kept lines, whitespace
  collapsed and stripped, upper case as in the source (ties: alphabetical first); the item id
  when it has no description at all;
* ``description`` = its other descriptions over the kept lines, most frequent first, joined by
  ``" | "``; empty when there is only one;
* ``price``       = median UnitPrice over its kept sale lines (quantity > 0; over its kept
  cancellation lines for an item that was only ever cancelled), rounded to 4 decimals;
* ``category``, ``region``, ``merchant_id``, ``tags`` are empty (the data set has no category,
  region or merchant; StockCode prefixes are not a documented taxonomy); ``available`` = true.

Everything is columnar (pandas/pyarrow); the full file takes a few seconds.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recommender import columns as col
from recommender.contract import ContractError
from recommender.datasets import UCI_ONLINE_RETAIL
from recommender.tables import is_parquet, read_columns, read_header, write_table

SOURCE_COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
                  "CustomerID", "Country")

NO_CUSTOMER = "no CustomerID"
NON_PRODUCT = "non-product StockCode (postage, fees, ...)"
NO_PRICE = "UnitPrice <= 0 (adjustments, free samples, write-offs)"
DROP_REASONS = (NO_CUSTOMER, NON_PRODUCT, NO_PRICE)

PRODUCT_CODE = r"^\d{5}[A-Z]{0,2}$"
SERVICE_CODES = {
    "23444": "Next Day Carriage",
    "23574": "PACKING CHARGE",
    "23702": "High Resolution Image",
}
UNSPECIFIED_COUNTRY = "Unspecified"
DESCRIPTION_SEPARATOR = " | "
PRICE_DECIMALS = 4

PURCHASES_NAME = "purchases.csv"
CATALOG_NAME = "catalog.csv"


def default_source() -> Path:
    """Where the staged data set lives: ``../shared/data/...`` relative to the project root."""
    project_root = Path(__file__).resolve().parents[2]
    return project_root.parent / "shared" / "data" / "uci_online_retail" / "online_retail.csv.gz"


@dataclass(frozen=True)
class ImportReport:
    """What the importer read, dropped (reason -> rows) and wrote."""

    rows_read: int
    purchases_written: int
    items_written: int
    dropped: dict[str, int]
    paths: dict[str, Path]
    customers: int = 0
    nonpositive_quantity: int = 0  # written lines with quantity <= 0, which the loader excludes
    source: str = ""

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [f"UCI Online Retail: {self.rows_read:,} rows read" + (f" from {self.source}" if self.source else ""),
                 f"  source: {UCI_ONLINE_RETAIL.provenance()}"]
        lines += [f"  dropped {n:,}: {reason}" for reason, n in self.dropped.items()]
        lines.append(f"  wrote {self.purchases_written:,} purchase lines ({self.customers:,} customers; "
                     f"{self.nonpositive_quantity:,} cancellation lines with quantity <= 0, which the loader "
                     f"excludes) to {self.paths.get('purchases')}")
        lines.append(f"  wrote {self.items_written:,} items to {self.paths.get('catalog')}")
        return "\n".join(lines)


def import_online_retail(source: str | os.PathLike, out_dir: str | os.PathLike,
                         compress: bool = True) -> ImportReport:
    """Convert the UCI Online Retail file ``source`` into contract files under ``out_dir``.

    Raises :class:`ContractError` when the source is missing (saying where to get it), lacks a column
    of the UCI layout or has a value that cannot be read (a Quantity that is not a whole number, an
    unreadable date, ...).
    """
    source = Path(source)
    out_dir = Path(out_dir)
    if not source.is_file():
        raise ContractError(f"{source}: no such file; {UCI_ONLINE_RETAIL.where_to_get()}")
    lines = _read_lines(source)
    rows_read = len(lines)

    no_customer = lines.user_id.eq("").to_numpy()
    is_product = (lines.item_id.str.match(PRODUCT_CODE) & ~lines.item_id.isin(list(SERVICE_CODES))).to_numpy()
    non_product = ~no_customer & ~is_product
    no_price = ~no_customer & is_product & (lines.price.to_numpy() <= 0)
    keep = ~(no_customer | non_product | no_price)
    dropped = {
        NO_CUSTOMER: int(no_customer.sum()),
        NON_PRODUCT: int(non_product.sum()),
        NO_PRICE: int(no_price.sum()),
    }
    kept = lines[keep].reset_index(drop=True)
    del lines
    if kept.empty:
        raise ContractError(f"{source}: no rows left to import: "
                            + "; ".join(f"{n:,} {reason}" for reason, n in dropped.items() if n))

    catalog = _catalog(kept)
    purchases = _purchases_table(kept)

    purchases_path = out_dir / (PURCHASES_NAME + (".gz" if compress else ""))
    catalog_path = out_dir / CATALOG_NAME
    write_table(purchases, purchases_path)
    write_table(catalog, catalog_path)
    return ImportReport(
        rows_read=rows_read,
        purchases_written=purchases.num_rows,
        items_written=catalog.num_rows,
        dropped=dropped,
        paths={"purchases": purchases_path, "catalog": catalog_path},
        customers=int(kept.user_id.nunique()),
        nonpositive_quantity=int((kept.quantity <= 0).sum()),
        source=str(source),
    )


def _read_lines(source: Path) -> pd.DataFrame:
    """The source's lines as typed columns, named after the contract (plus ``description``)."""
    header = read_header(source)
    missing = [name for name in SOURCE_COLUMNS if name not in header]
    if missing:
        raise ContractError(f"{source}: not in the UCI Online Retail layout: missing column(s) "
                            f"{', '.join(missing)} (expected {', '.join(SOURCE_COLUMNS)}; found: "
                            f"{', '.join(header) or 'no columns'})")
    table = read_columns(source, list(SOURCE_COLUMNS))
    is_csv = not is_parquet(source)

    def where(name: str) -> col.Where:
        return col.Where(str(source), name, is_csv)

    def text(name: str, required: bool = False) -> pd.Series:
        return col.text(_as_text(table.column(name)), where(name), required)

    quantity = col.numbers(table.column("Quantity"), where("Quantity"))
    where("Quantity").check(np.isnan(quantity), col.as_series(table.column("Quantity")), "is empty",
                            show_value=False)
    where("Quantity").check(quantity != np.round(quantity), col.as_series(table.column("Quantity")),
                            "is not a whole number")
    price = col.numbers(table.column("UnitPrice"), where("UnitPrice"))
    where("UnitPrice").check(np.isnan(price), col.as_series(table.column("UnitPrice")), "is empty",
                             show_value=False)
    country = text("Country")
    return pd.DataFrame({
        "user_id": _regex_replace(text("CustomerID"), r"^(\d+)\.0*$", r"\1"),
        "item_id": text("StockCode").str.upper(),
        "timestamp": _timestamps(table.column("InvoiceDate"), where("InvoiceDate")),
        "quantity": quantity.astype("int64"),
        "order_id": text("InvoiceNo", required=True),
        "price": price,
        "city": country.where(country.ne(UNSPECIFIED_COUNTRY), ""),
        "description": _regex_replace(text("Description"), r"\s+", " "),
    })


def _regex_replace(values: pd.Series, pattern: str, replacement: str) -> pd.Series:
    """``values.str.replace`` with a regex, run by Arrow (pandas runs some patterns in Python)."""
    replaced = pc.replace_substring_regex(pa.array(values, type=pa.string()), pattern, replacement)
    return pd.Series(replaced.to_pandas(types_mapper=col.text_types), index=values.index)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as text; whole floats (a Parquet CustomerID such as 17850.0) lose their ``.0``."""
    if pa.types.is_floating(column.type):
        values = column.to_numpy()
        finite = values[~np.isnan(values)]
        if np.array_equal(finite, np.round(finite)):
            column = pc.cast(column, pa.int64())
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    return column


US_DATE = r"^\s*\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}(:\d{2})?\s*$"


def _timestamps(column: pa.ChunkedArray, where: col.Where) -> np.ndarray:
    """InvoiceDate as ``datetime64[s]``: ISO 8601 text or native timestamps (taken as UTC), or the
    ``12/1/2010 8:26`` (month/day/year) text of some CSV exports of the workbook."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        values = col.as_series(column)
        first = values.dropna()[:1]
        if len(first) and re.match(US_DATE, first.iloc[0]):
            stripped = values.str.strip()
            parsed = pd.to_datetime(stripped, format="%m/%d/%Y %H:%M", errors="coerce")
            with_seconds = parsed.isna() & stripped.notna()
            if with_seconds.any():
                parsed[with_seconds] = pd.to_datetime(stripped[with_seconds], format="%m/%d/%Y %H:%M:%S",
                                                      errors="coerce")
            where.check(parsed.isna().to_numpy(), values, "cannot be read as a month/day/year time")
            return parsed.to_numpy().astype("datetime64[s]")
    return col.timestamps(column, where)


def _purchases_table(kept: pd.DataFrame) -> pa.Table:
    timestamps = pc.strftime(pa.array(kept.timestamp.to_numpy(), type=pa.timestamp("s")),
                             format="%Y-%m-%dT%H:%M:%SZ")
    n = len(kept)
    return pa.table({
        "user_id": pa.array(kept.user_id, type=pa.string()),
        "item_id": pa.array(kept.item_id, type=pa.string()),
        "timestamp": timestamps,
        "quantity": pa.array(kept.quantity.to_numpy(), type=pa.int64()),
        "order_id": pa.array(kept.order_id, type=pa.string()),
        "price": pa.array(kept.price.to_numpy(), type=pa.float64()),
        "city": pa.array(kept.city.where(kept.city.ne(""), None), type=pa.string()),
        "city_tier": pa.nulls(n, type=pa.string()),
    })


def _catalog(kept: pd.DataFrame) -> pa.Table:
    items = pd.Index(kept.item_id.unique(), name="item_id").sort_values()

    named = kept.loc[kept.description.ne(""), ["item_id", "description"]]
    counts = named.groupby(["item_id", "description"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["item_id", "n", "description"], ascending=[True, False, True], kind="stable")
    rank = counts.groupby("item_id", sort=False).cumcount().to_numpy()
    titles = counts[rank == 0].set_index("item_id").description.reindex(items)
    titles = titles.fillna(pd.Series(items, index=items))
    others = (counts[rank > 0].groupby("item_id", sort=False).description
              .agg(DESCRIPTION_SEPARATOR.join).reindex(items))

    sales = kept.quantity.to_numpy() > 0
    price = kept[sales].groupby("item_id").price.median().reindex(items)
    price = price.fillna(kept.groupby("item_id").price.median().reindex(items)).round(PRICE_DECIMALS)

    n = len(items)
    empty = pa.nulls(n, type=pa.string())
    return pa.table({
        "item_id": pa.array(items, type=pa.string()),
        "title": pa.array(titles, type=pa.string()),
        "description": pa.array(others, type=pa.string(), from_pandas=True),
        "category": empty,
        "region": empty,
        "merchant_id": empty,
        "price": pa.array(price.to_numpy(), type=pa.float64()),
        "tags": empty,
        "available": pa.array(np.ones(n, dtype=bool)),
    })
