"""Loaders for purchase and catalog files (CSV, CSV.gz, Parquet) under the data contract.

The result is typed and compact: ids are pandas categoricals (int32 codes plus one copy of each
distinct id), times ``datetime64[s]`` (UTC), numbers float32. When a catalog is given, the
purchases' ``item_id`` categories are the catalog's item ids in catalog order, so
``purchases.item_id.cat.codes`` are catalog row positions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from recommender import columns as col
from recommender.contract import (
    CATALOG_OPTIONAL,
    CATALOG_REQUIRED,
    PURCHASE_OPTIONAL,
    PURCHASE_REQUIRED,
    UNKNOWN_ITEM_POLICIES,
    UNKNOWN_LABEL,
    UNKNOWN_TIER,
    BadRows,
    ContractError,
    FileFormat,
    missing_columns,
)
from recommender.tables import csv_line, is_parquet, read_columns, read_header

RETURNS = "return or cancellation (quantity <= 0)"
UNKNOWN_ITEMS = "item not in the catalog"
UNKNOWN_ITEM_EXAMPLES = 5
UNKNOWN_ITEM_OUTCOMES = {"drop": "dropped (--unknown-items add keeps them and adds the items to the catalog)",
                         "add": "kept, the items added to the catalog (--unknown-items drop leaves them out)"}
CATALOG_LABELS = ("category", "region", "merchant_id")


@dataclass
class LoadReport:
    """What a loader read from one file and what its policies did."""

    path: str
    rows_read: int
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def rows_kept(self) -> int:
        return self.rows_read - sum(self.dropped.values())

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [f"{self.path}: {self.rows_read:,} rows read, {self.rows_kept:,} kept"]
        out += [f"  dropped {n:,}: {reason}" for reason, n in self.dropped.items() if n]
        out += [f"  {note}" for note in self.notes]
        return out


@dataclass
class Dataset:
    """Purchases and catalog, loaded together and aligned on item ids."""

    purchases: pd.DataFrame
    catalog: pd.DataFrame
    reports: list[LoadReport]
    signals: pd.DataFrame | None = None  # views and carts (user_id, item_id, type, timestamp): event stores only

    def summary(self) -> str:
        """Rows, buyers, items, date range, and what each policy dropped and why."""
        p = self.purchases
        lines = [line for report in self.reports for line in report.lines()]
        bought = p.item_id.cat.codes.nunique()
        lines.append(f"purchases: {len(p):,} lines, {p.quantity.sum():,.0f} units, "
                     f"{p.user_id.cat.categories.size:,} buyers")
        lines.append(f"items: {len(self.catalog):,} in the catalog ({int(self.catalog.available.sum()):,} available), "
                     f"{bought:,} bought at least once")
        if len(p):
            lines.append(f"date range: {p.timestamp.min()} .. {p.timestamp.max()}")
        tiers = p.city_tier.value_counts().sort_index()
        lines.append("city tiers: " + ", ".join(
            f"{'unknown' if tier == UNKNOWN_TIER else f'tier {tier}'} {n:,}" for tier, n in tiers.items()))
        return "\n".join(lines)


def _read(path: Path, required: tuple[str, ...], optional: tuple[str, ...], multiline: bool):
    header = read_header(path)
    missing = [name for name in required if name not in header]
    if missing:
        raise missing_columns(path, missing, header)
    present = [name for name in required + optional if name in header]
    repeated = [name for name in present if header.count(name) > 1]
    if repeated:
        raise ContractError(f"{path}: the header{'' if is_parquet(path) else ' (line 1)'} repeats "
                            f"{', '.join(repr(name) for name in repeated)}")
    table = read_columns(path, present, multiline=multiline)
    if table.num_rows == 0:
        raise ContractError(f"{path}: has a header but no rows")
    return table


def _where(path: Path, column: str) -> col.Where:
    return col.Where(str(path), column, not is_parquet(path))


def load_catalog(path: str | os.PathLike, file_format: FileFormat = FileFormat()) -> tuple[pd.DataFrame, LoadReport]:
    """Load and check a catalog file; item ids must be unique and titles non-empty. ``file_format``:
    how its prices are written (:class:`~recommender.contract.FileFormat`)."""
    path = Path(path)
    table = _read(path, CATALOG_REQUIRED, CATALOG_OPTIONAL, multiline=True)
    n = table.num_rows

    def get(name, parse, *args):
        return parse(table.column(name), _where(path, name), *args) if name in table.column_names else None

    item_id = get("item_id", col.text, True)
    _check_unique(path, item_id)
    catalog = pd.DataFrame({
        "item_id": item_id,
        "title": get("title", col.text, True),
        "description": get("description", col.text) if "description" in table.column_names else "",
    })
    for name in CATALOG_LABELS:
        values = get(name, col.text, False, UNKNOWN_LABEL)
        catalog[name] = pd.Categorical(values if values is not None else np.full(n, UNKNOWN_LABEL))
    price = get("price", col.numbers, np.nan, file_format.decimal_comma)
    catalog["price"] = (price if price is not None else np.full(n, np.nan)).astype("float32")
    tags = get("tags", col.tags)
    catalog["tags"] = tags if tags is not None else ""
    available = get("available", col.booleans, True)
    catalog["available"] = available if available is not None else np.ones(n, dtype=bool)
    product_id = get("product_id", col.text)  # listings of one product (recommender.features.products)
    catalog["product_id"] = product_id if product_id is not None else ""
    season = get("season", col.seasons)  # months in season (recommender.features.seasons)
    catalog["season"] = season if season is not None else np.zeros(n, dtype=np.int16)
    return catalog, LoadReport(str(path), n)


def _check_unique(path: Path, item_id: pd.Series) -> None:
    """A catalog's ids are unique: else the error names the first repeated id's row and line and
    those of its first row."""
    duplicated = item_id.duplicated().to_numpy()
    if not duplicated.any():
        return
    row = int(np.flatnonzero(duplicated)[0])
    first = int(np.flatnonzero(item_id.eq(item_id.iloc[row]).to_numpy())[0])
    line = csv_line(path, row, len(item_id)) if not is_parquet(path) else None
    first_line = csv_line(path, first, len(item_id)) if line else None
    first_at = f"row {first + 1}" + (f" (line {first_line})" if first_line else "")
    raise BadRows(str(path), "item_id", "is a duplicate id", row, item_id.iloc[row], int(duplicated.sum()), line,
                  f"the id is first at {first_at}; each item id names one catalog row").error()


def _purchase_columns(path: Path, file_format: FileFormat) -> pd.DataFrame:
    """Every contract column of a purchases file, parsed and typed (ids still as text)."""
    table = _read(path, PURCHASE_REQUIRED, PURCHASE_OPTIONAL, multiline=False)
    n = table.num_rows
    present = set(table.column_names)

    def get(name, parse, *args):
        return parse(table.column(name), _where(path, name), *args)

    return pd.DataFrame({
        "user_id": get("user_id", col.text, True),
        "item_id": get("item_id", col.text, True),
        "timestamp": get("timestamp", col.timestamps, file_format.date_format),
        "quantity": get("quantity", col.numbers, 1.0, file_format.decimal_comma).astype("float32")
        if "quantity" in present else np.ones(n, dtype="float32"),
        "order_id": get("order_id", col.text) if "order_id" in present else "",
        "price": get("price", col.numbers, np.nan, file_format.decimal_comma).astype("float32") if "price" in present
        else np.full(n, np.nan, dtype="float32"),
        "city": pd.Categorical(get("city", col.text, False, UNKNOWN_LABEL) if "city" in present
                               else np.full(n, UNKNOWN_LABEL)),
        "city_tier": get("city_tier", col.city_tiers, UNKNOWN_TIER) if "city_tier" in present
        else np.full(n, UNKNOWN_TIER, dtype="int8"),
    })


def load_purchases(path: str | os.PathLike, catalog: pd.DataFrame | None = None,
                   unknown_items: str = "drop", file_format: FileFormat = FileFormat()
                   ) -> tuple[pd.DataFrame, LoadReport]:
    """Load and check a purchases file, applying the return and unknown-item policies.

    With a catalog, purchases of items it lacks are dropped (``unknown_items="drop"``) or kept
    for items that the caller adds to the catalog (``"add"``: see :func:`load_dataset`).
    ``file_format``: how its times and numbers are written (:class:`~recommender.contract.FileFormat`).
    """
    path = Path(path)
    return _with_policies(_purchase_columns(path, file_format), str(path), catalog, unknown_items,
                          None if is_parquet(path) else path)


def _store_purchase_columns(store) -> pd.DataFrame:
    """The store's purchase lines (:meth:`~recommender.store.Events.purchases`) typed as
    :func:`_purchase_columns` types a file's."""
    lines = store.events.purchases()
    n = len(lines)
    return pd.DataFrame({
        "user_id": lines["user_id"].astype(col.TEXT), "item_id": lines["item_id"].astype(col.TEXT),
        "timestamp": lines["timestamp"].dt.tz_localize(None).to_numpy().astype("datetime64[s]"),
        "quantity": lines["quantity"].to_numpy(dtype="float32"), "order_id": lines["order_id"].astype(col.TEXT),
        "price": np.full(n, np.nan, dtype="float32"), "city": pd.Categorical(np.full(n, UNKNOWN_LABEL)),
        "city_tier": lines["city_tier"].fillna(UNKNOWN_TIER).to_numpy(dtype="int8"),
    })


def _with_policies(frame: pd.DataFrame, source: str, catalog: pd.DataFrame | None, unknown_items: str,
                   csv_path: Path | None = None) -> tuple[pd.DataFrame, LoadReport]:
    """Purchase lines after the return and unknown-item policies, and the report of what they dropped
    (``csv_path``: the CSV file the lines were read from, whose lines the report names)."""
    if unknown_items not in UNKNOWN_ITEM_POLICIES:
        raise ValueError(f"unknown_items must be one of {UNKNOWN_ITEM_POLICIES}, got {unknown_items!r}")
    report = LoadReport(source, len(frame))

    keep = frame.quantity.to_numpy() > 0
    report.dropped[RETURNS] = int((~keep).sum())
    if catalog is not None:
        known = frame.item_id.isin(catalog.item_id).to_numpy()
        unknown_kept = keep & ~known
        if unknown_kept.any():
            report.notes.append(_unknown_items_note(frame.item_id, unknown_kept, unknown_items, csv_path))
        if unknown_items == "drop":
            report.dropped[UNKNOWN_ITEMS] = int(unknown_kept.sum())
            keep &= known
    frame = frame[keep].reset_index(drop=True)
    if frame.empty:
        raise ContractError(f"{source}: no usable purchases remain after the policies: "
                            + "; ".join(line.strip() for line in report.lines()[1:]))
    frame["user_id"] = pd.Categorical(frame.user_id)
    if catalog is not None:
        frame["item_id"] = pd.Categorical(frame.item_id, categories=_categories_with(catalog, frame.item_id))
    else:
        frame["item_id"] = pd.Categorical(frame.item_id)
    return frame, report


def _unknown_items_note(item_ids: pd.Series, unknown: np.ndarray, policy: str, csv_path: Path | None) -> str:
    """:func:`unknown_items_note` for the lines ``unknown`` of a loaded file, with the first one's row
    (and its line in the CSV file ``csv_path``)."""
    ids = item_ids[unknown].unique()
    first = int(np.flatnonzero(unknown)[0])
    return unknown_items_note(list(ids[:UNKNOWN_ITEM_EXAMPLES]), len(ids), int(unknown.sum()), policy,
                              first_row=first + 1,
                              first_line=csv_line(csv_path, first, len(unknown)) if csv_path else None)


def unknown_items_note(examples: list, n_items: int, lines: int, policy: str, first_row: int | None = None,
                       first_line: int | None = None) -> str:
    """The purchase lines of items missing from the catalog: how many items (``examples``: up to five of their
    ids) and lines, the first line's row (and file line) if known, what ``policy`` did with them and the option
    for the other."""
    shown = ", ".join(repr(item) for item in examples[:UNKNOWN_ITEM_EXAMPLES]) + \
        (", ..." if n_items > UNKNOWN_ITEM_EXAMPLES else "")
    line = f" (line {first_line})" if first_line else ""
    where = f", the first at row {first_row}{line}, column 'item_id'" if first_row is not None else ""
    return (f"{n_items:,} item{'s' if n_items > 1 else ''} not in the catalog ({shown}) in {lines:,} purchase "
            f"line{'s' if lines > 1 else ''}{where}: {UNKNOWN_ITEM_OUTCOMES[policy]}")


def _categories_with(catalog: pd.DataFrame, item_ids: pd.Series) -> pd.Index:
    """The catalog's item ids in catalog order, followed by unknown ids in ``item_ids`` (policy "add")."""
    known = pd.Index(catalog.item_id)
    extra = pd.Index(item_ids.unique()).difference(known)
    return known.append(extra) if len(extra) else known


def _default_catalog(item_ids) -> pd.DataFrame:
    """Catalog rows for bare ids: title = id, every other field at its contract default."""
    ids = pd.Series(item_ids, dtype=col.TEXT)
    n = len(ids)
    frame = pd.DataFrame({"item_id": ids, "title": ids, "description": ""})
    for name in CATALOG_LABELS:
        frame[name] = pd.Categorical(np.full(n, UNKNOWN_LABEL))
    return frame.assign(price=np.full(n, np.nan, dtype="float32"), tags="", available=np.ones(n, dtype=bool))


def add_unknown_items(catalog: pd.DataFrame, item_categories: pd.Index) -> pd.DataFrame:
    """Extend the catalog with default rows for the ids past its end (policy "add")."""
    extra = item_categories[len(catalog):]
    if not len(extra):
        return catalog
    combined = pd.concat([catalog, _default_catalog(extra)], ignore_index=True)
    for name in CATALOG_LABELS:
        combined[name] = pd.Categorical(combined[name].astype(col.TEXT))
    return combined


def load_dataset(purchases_path: str | os.PathLike, catalog_path: str | os.PathLike | None = None,
                 unknown_items: str = "drop", file_format: FileFormat = FileFormat()) -> Dataset:
    """Load purchases and (optionally) a catalog, aligned so item codes are catalog rows; both files
    in ``file_format``.

    Without a catalog, a minimal one is made from the purchased item ids (titles = ids).
    """
    return _dataset(lambda catalog: load_purchases(purchases_path, catalog, unknown_items, file_format),
                    catalog_path, file_format)


def load_store_dataset(store_url: str, catalog_path: str | os.PathLike | None = None,
                       unknown_items: str = "drop", file_format: FileFormat = FileFormat()) -> Dataset:
    """:func:`load_dataset` with the purchases of the event store at ``store_url`` (purchases net
    of returns: see :meth:`~recommender.store.Events.purchases`), its views and carts
    (``signals``), and the catalog file updated with the items written to the store through the
    API (new ones added, changed ones replaced)."""
    # imported here: SQLAlchemy and Alembic only for the commands that read a store
    from recommender.store import EventStore

    store = EventStore.open(store_url, migrate=False)
    try:
        frame, written, signals = _store_purchase_columns(store), store.items.since(0), store.events.signals()
    finally:
        store.close()
    dataset = _dataset(lambda catalog: _with_policies(frame, store.display_url, catalog, unknown_items),
                       catalog_path, file_format, written)
    signals["timestamp"] = signals["timestamp"].dt.tz_localize(None).astype("datetime64[s]")
    return replace(dataset, signals=signals)


def _with_written_items(catalog: pd.DataFrame | None, written: list) -> pd.DataFrame:
    """``catalog`` with the items written through the API (:class:`~recommender.store.Item`) in
    place of its rows of the same ids, and after them."""
    rows = written_items_catalog(written)
    return rows if catalog is None else appended_catalog(catalog[~catalog.item_id.isin(rows.item_id)], rows)


def written_items_catalog(written: list) -> pd.DataFrame:
    """Catalog rows of items written through the API (:class:`~recommender.store.Item`), labels and
    tags as :func:`load_catalog` reads them."""
    return pd.DataFrame({
        "item_id": pd.Series([item.item_id for item in written], dtype=col.TEXT),
        "title": pd.Series([item.title for item in written], dtype=col.TEXT),
        "description": pd.Series([item.description or "" for item in written], dtype=col.TEXT),
        **{name: pd.Categorical([getattr(item, name) or UNKNOWN_LABEL for item in written])
           for name in CATALOG_LABELS},
        "price": np.array([np.nan if item.price is None else item.price for item in written], dtype="float32"),
        "tags": pd.Series([(item.tags or "").lower() for item in written], dtype=col.TEXT),
        "available": np.array([item.available for item in written], dtype=bool),
    })


def item_titles(catalog: pd.DataFrame) -> dict[str, str]:
    """Item id -> title, from a loaded catalog."""
    return dict(zip(catalog.item_id.astype(col.TEXT), catalog.title.astype(col.TEXT)))


def appended_catalog(catalog: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` after ``catalog`` (a fresh index), the label columns categorical over both."""
    joined = pd.concat([frame.astype({name: object for name in CATALOG_LABELS if name in frame})
                        for frame in (catalog, rows)], ignore_index=True)
    for name in CATALOG_LABELS:
        if name in joined:
            joined[name] = pd.Categorical(joined[name])
    return joined


def _dataset(purchases_of, catalog_path: str | os.PathLike | None, file_format: FileFormat,
             written: list | None = None) -> Dataset:
    """The dataset of ``purchases_of(catalog)`` (purchases and their report) and the catalog file
    (in ``file_format``), with the items ``written`` through the API."""
    reports = []
    catalog = None
    if catalog_path is not None:
        catalog, catalog_report = load_catalog(catalog_path, file_format)
        reports.append(catalog_report)
    if written:
        catalog = _with_written_items(catalog, written)
    purchases, purchase_report = purchases_of(catalog)
    reports.insert(0, purchase_report)
    if catalog is None:
        catalog = _default_catalog(purchases.item_id.cat.categories)
    else:
        catalog = add_unknown_items(catalog, purchases.item_id.cat.categories)
    return Dataset(purchases, catalog, reports)
