"""Property-based fuzzing of the purchase and catalog loaders over CSV, CSV.gz and Parquet files.

Whatever the bytes, a loader either loads the file correctly or raises a ContractError naming the file;
valid tables (any column order, field separator, quoting, line endings, BOM, container) load exactly as
written; and one planted bad cell is reported at its own row, line and column. No other exception, and no
traceback printed by a library along the way (pyarrow prints one from an invalid-row handler it cannot call).
"""
from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.contract import (
    CATALOG_OPTIONAL,
    CATALOG_REQUIRED,
    CSV_DELIMITERS,
    FALSE_WORDS,
    MAX_CITY_TIER,
    PURCHASE_OPTIONAL,
    PURCHASE_REQUIRED,
    TRUE_WORDS,
    UNKNOWN_LABEL,
    UNKNOWN_TIER,
    ContractError,
    shortened,
)
from recommender.loaders import load_catalog, load_purchases

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")

FUZZ = settings(deadline=None, derandomize=True, database=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])

NULL_MARKERS = frozenset(pa_csv.ConvertOptions().null_values) - {""}
"""Unquoted cells that Arrow reads as missing (``NA``, ``null``, ...): written quoted when they are values."""
NOT_UTF8 = "\ue000"
"""Stands in a cell's text for Latin-1 bytes, put in after encoding (never drawn as a character)."""
LATIN1_BYTES = "Müller".encode("latin-1")
HUGE = "長" * (1 << 19)  # 1.5 MB of UTF-8: more than pyarrow's default block, and than the start read for the header
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXTRA_COLUMNS = ("note", "Score", "user id", "źródło")
FORMATS = ("csv", "CSV", "csv.gz", "CSV.GZ", "parquet", "pq")


def is_parquet(fmt: str) -> bool:
    return fmt in ("parquet", "pq")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# -- cells: the text written to a CSV file, the typed value for Parquet, and what the loader should return ----------

@dataclass(frozen=True)
class Cell:
    text: str
    typed: object  # None: missing
    expected: object


def texts(newlines: bool) -> st.SearchStrategy[str]:
    """Non-empty text without surrounding whitespace; inside it anything, NUL included (line breaks only where
    values may span lines)."""
    edge = st.characters(codec="utf-8", categories=("L", "N", "P", "S"), exclude_characters=NOT_UTF8)
    inner = st.characters(codec="utf-8", exclude_characters=NOT_UTF8 + ("" if newlines else "\r\n"))
    drawn = st.builds(lambda first, middle, last: first + (middle + last if middle else ""),
                      edge, st.text(inner, max_size=8), edge)
    special = ["NA", "null", "nan", "a,b", 'say "hi"', '"', "x\x00y", "凤凰, 湖南", "🍑", "O'Brien"]
    return st.one_of(drawn, st.sampled_from(special + (["two\nlines", "cr\rand\r\ncrlf"] if newlines else [])))


PADDING = st.sampled_from(["", "", " ", "  ", "\t"])


def required_texts(newlines: bool) -> st.SearchStrategy[Cell]:
    return st.builds(lambda before, core, after: Cell(before + core + after, before + core + after, core),
                     PADDING, texts(newlines), PADDING)


def optional_texts(newlines: bool, default: str) -> st.SearchStrategy[Cell]:
    empty = st.sampled_from([Cell("", None, default), Cell(" ", " ", default)])
    return st.one_of(empty, required_texts(newlines))


@st.composite
def timestamps(draw) -> Cell:
    """ISO 8601 (date, naive, Z, offset, fractional seconds) or epoch seconds, and the UTC second it means."""
    moment = draw(st.datetimes(datetime(1971, 1, 1), datetime(2099, 12, 30))).replace(microsecond=0,
                                                                                       tzinfo=UTC)
    style = draw(st.sampled_from(["date", "naive", "T", "Z", "fraction", "offset", "epoch"]))
    if style == "date":
        moment = moment.replace(hour=0, minute=0, second=0)
    naive = moment.replace(tzinfo=None)
    if style == "offset":
        minutes = draw(st.integers(-12 * 4, 14 * 4)) * 15
        sign, size = "-" if minutes < 0 else "+", abs(minutes)
        text = (naive + timedelta(minutes=minutes)).isoformat() + f"{sign}{size // 60:02d}:{size % 60:02d}"
    elif style == "fraction":
        text = naive.isoformat() + f".{draw(st.integers(0, 999)):03d}Z"  # the loader keeps whole seconds
    else:
        text = {"date": naive.strftime("%Y-%m-%d"), "naive": naive.isoformat(sep=" "), "T": naive.isoformat(),
                "Z": naive.isoformat() + "Z", "epoch": str(int((moment - EPOCH).total_seconds()))}[style]
    return Cell(text, moment, np.datetime64(naive, "s"))


def numbers(default: float, low: float) -> st.SearchStrategy[Cell]:
    return st.one_of(
        st.just(Cell("", None, default)),
        st.integers(int(low), 500).map(lambda n: Cell(str(n), float(n), float(n))),
        st.integers(1, 9).map(lambda n: Cell(f" {n} ", float(n), float(n))),
        st.floats(0.001, 1e6).map(lambda x: Cell(repr(x), x, x)),
    )


def tiers() -> st.SearchStrategy[Cell]:
    spellings = st.sampled_from(["{}", "tier {}", " Tier {} ", "TIER{}"])
    return st.one_of(st.just(Cell("", None, UNKNOWN_TIER)),
                     st.builds(lambda n, spelling: Cell(spelling.format(n), n, n),
                               st.integers(1, MAX_CITY_TIER), spellings))


def availability() -> st.SearchStrategy[Cell]:
    words = st.sampled_from(sorted(TRUE_WORDS | FALSE_WORDS))
    cases = st.sampled_from([str.lower, str.upper, str.title])
    spelled = st.builds(lambda word, case, pad: Cell(pad + case(word) + pad, word in TRUE_WORDS, word in TRUE_WORDS),
                        words, cases, PADDING)
    return st.one_of(st.just(Cell("", None, True)), spelled)


def tags() -> st.SearchStrategy[Cell]:
    """Semicolon-separated labels in any case and spacing, and their normal form."""
    labels = st.lists(st.text(st.sampled_from("abcXYZ09_- "), max_size=6), max_size=4)
    separators = st.sampled_from([";", "; ", " ; ", ";;"])

    def cell(parts: list[str], separator: str) -> Cell:
        text = separator.join(parts)
        normal = ";".join(part.strip().lower() for part in parts if part.strip())
        return Cell(text, text, normal)

    return st.builds(cell, labels, separators)


def seasons() -> st.SearchStrategy[Cell]:
    """Months in season as months and spans (wrapping past December) in any spacing, and their mask."""
    spans = st.lists(st.tuples(st.integers(1, 12), st.integers(1, 12)), max_size=3)
    separators = st.sampled_from([",", ", ", ";", " ", " ; "])

    def cell(parts: list[tuple[int, int]], separator: str) -> Cell:
        text = separator.join(f"{first}" if first == last else f"{first} - {last}" for first, last in parts)
        mask = 0
        for first, last in parts:
            for month in (range(first, last + 1) if first <= last else [*range(first, 13), *range(1, last + 1)]):
                mask |= 1 << (month - 1)
        return Cell(text, text, mask)

    return st.builds(cell, spans, separators)


PURCHASE_CELLS = {
    "user_id": required_texts(False), "item_id": required_texts(False), "timestamp": timestamps(),
    "quantity": numbers(1.0, -3), "order_id": optional_texts(False, ""), "price": numbers(np.nan, 0),
    "city": optional_texts(False, UNKNOWN_LABEL), "city_tier": tiers(),
}
CATALOG_CELLS = {
    "item_id": required_texts(True), "title": required_texts(True), "description": optional_texts(True, ""),
    "category": optional_texts(True, UNKNOWN_LABEL), "region": optional_texts(True, UNKNOWN_LABEL),
    "merchant_id": optional_texts(True, UNKNOWN_LABEL), "price": numbers(np.nan, 0), "tags": tags(),
    "available": availability(), "product_id": optional_texts(True, ""), "season": seasons(),
}
EXTRA_CELLS = {kind: required_texts(kind == "catalog").map(lambda cell: replace(cell, expected=None))
               for kind in ("purchases", "catalog")}  # not read by the loaders
DEFAULTS = {"quantity": 1.0, "order_id": "", "price": np.nan, "city": UNKNOWN_LABEL, "city_tier": UNKNOWN_TIER,
            "description": "", "category": UNKNOWN_LABEL, "region": UNKNOWN_LABEL, "merchant_id": UNKNOWN_LABEL,
            "tags": "", "available": True, "product_id": "", "season": 0}
TEXT_COLUMNS = ("user_id", "item_id", "order_id", "city", "title", "description", "category", "region",
                "merchant_id", "product_id") + EXTRA_COLUMNS
PARQUET_TYPES = {"timestamp": pa.timestamp("s", tz="UTC"), "quantity": pa.float64(), "price": pa.float64(),
                 "city_tier": pa.int8(), "available": pa.bool_()}


# -- tables and how they are written ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    kind: str  # "purchases" or "catalog"
    names: tuple[str, ...]
    rows: tuple[dict[str, Cell], ...]

    def with_cell(self, row: int, name: str, cell: Cell) -> Table:
        rows = list(self.rows)
        rows[row] = {**rows[row], name: cell}
        return replace(self, rows=tuple(rows))

    def load(self, path: Path):
        return (load_purchases if self.kind == "purchases" else load_catalog)(path)


@st.composite
def tables(draw, kind: str, min_rows: int = 1, max_rows: int = 6) -> Table:
    """A valid table: required columns, some optional ones, unknown extra ones, in any order."""
    cells = PURCHASE_CELLS if kind == "purchases" else CATALOG_CELLS
    required, optional = (PURCHASE_REQUIRED, PURCHASE_OPTIONAL) if kind == "purchases" else \
        (CATALOG_REQUIRED, CATALOG_OPTIONAL)
    chosen = draw(st.lists(st.sampled_from(optional), unique=True))
    extras = draw(st.lists(st.sampled_from(EXTRA_COLUMNS), unique=True, max_size=2))
    names = tuple(draw(st.permutations(list(required) + chosen + extras)))
    n = draw(st.integers(min_rows, max_rows))
    columns = {}
    for name in names:
        unique = {"unique_by": lambda c: c.expected} if (kind, name) == ("catalog", "item_id") else {}
        columns[name] = draw(st.lists(cells.get(name, EXTRA_CELLS[kind]), min_size=n, max_size=n, **unique))
    table = Table(kind, names, tuple({name: columns[name][i] for name in names} for i in range(n)))
    if draw(st.integers(0, 7)) == 0:  # now and then a huge value
        name = draw(st.sampled_from([name for name in names if name in TEXT_COLUMNS]))
        row = draw(st.integers(0, n - 1))
        cell = table.rows[row][name]
        core = cell.text.strip() or "x"
        text = HUGE + cell.text + core
        table = table.with_cell(row, name, Cell(text, text, None if name in EXTRA_COLUMNS else text))
    return table


@dataclass(frozen=True)
class Layout:
    """How a table is written as CSV: field separator, quoting, the ending of each line, blank lines, BOM."""

    delimiter: str
    quoting: int
    endings: tuple[str, ...]  # after the header and after each row
    blank_lines: tuple[str, ...]  # "" or one more line ending, after the header and after each row
    bom: bool
    final_ending: bool


@st.composite
def layouts(draw, rows: int) -> Layout:
    lines = rows + 1
    endings = draw(st.sampled_from(["uniform", "mixed"]))
    if endings == "uniform":
        ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
        chosen = (ending,) * lines
    else:
        chosen = tuple(draw(st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=lines, max_size=lines)))
    blanks = draw(st.one_of(st.just(("",) * lines),
                            st.lists(st.sampled_from(["", "", "\n", "\r\n"]), min_size=lines, max_size=lines)))
    return Layout(draw(st.sampled_from(CSV_DELIMITERS)), draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
                  chosen, tuple(blanks), draw(st.booleans()), draw(st.booleans()))


def line_breaks(text: str) -> int:
    """Line endings in a text, as a CSV reader counts them (\\n, \\r and \\r\\n alike)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def csv_text(table: Table, layout: Layout, fields: dict[int, list[str]] | None = None) -> tuple[str, list[int]]:
    """The table as CSV text and the line each data row starts on (``fields`` replaces whole rows)."""
    texts = [cell.text for row in table.rows for cell in row.values()]
    quoting = csv.QUOTE_ALL if NULL_MARKERS.intersection(texts) else layout.quoting

    def render(values: list[str]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=layout.delimiter, quoting=quoting, lineterminator="\r\n").writerow(values)
        return buffer.getvalue()[:-2]

    records = [list(table.names)] + [[row[name].text for name in table.names] for row in table.rows]
    for index, values in (fields or {}).items():
        records[index + 1] = values
    text = "\ufeff" if layout.bom else ""
    starts = []
    for index, values in enumerate(records):
        if index:
            starts.append(1 + line_breaks(text))
        last = index == len(records) - 1
        text += render(values) + ("" if last and not layout.final_ending else layout.endings[index])
        text += "" if last else layout.blank_lines[index]
    return text, starts


def csv_bytes(text: str, gzipped: bool) -> bytes:
    data = text.encode("utf-8").replace(NOT_UTF8.encode("utf-8"), LATIN1_BYTES)
    return gzip.compress(data, mtime=0) if gzipped else data


def parquet_bytes(table: Table, typed: bool, binary: frozenset[str] = frozenset()) -> bytes:
    """The table as Parquet: typed columns (timestamps, numbers, flags) or all text; ``binary`` columns as bytes."""
    arrays = {}
    for name in table.names:
        cells = [row[name] for row in table.rows]
        if name in binary:
            arrays[name] = pa.array([c.text.encode("utf-8").replace(NOT_UTF8.encode("utf-8"), LATIN1_BYTES)
                                     for c in cells], pa.binary())
        elif typed and name in PARQUET_TYPES:
            arrays[name] = pa.array([c.typed for c in cells], PARQUET_TYPES[name])
        else:
            arrays[name] = pa.array([None if c.typed is None else c.text for c in cells], pa.string())
    sink = io.BytesIO()
    pq.write_table(pa.table(arrays), sink)
    return sink.getvalue()


def write(folder: Path, stem: str, fmt: str, data: bytes) -> Path:
    path = folder / f"{stem}.{fmt}"
    path.write_bytes(data)
    return path


# -- 1. any bytes: a load that keeps the contract, or a ContractError naming the file --------------------------------

def mutate(data: bytes, edits: list[tuple[str, float, bytes]]) -> bytes:
    for operation, where, payload in edits:
        at = int(where * len(data))
        if operation == "insert":
            data = data[:at] + payload + data[at:]
        elif operation == "overwrite":
            data = data[:at] + payload + data[at + len(payload):]
        elif operation == "delete":
            data = data[:at] + data[at + len(payload):]
        elif operation == "truncate":
            data = data[:at]
        elif operation == "line endings":
            data = data.replace(b"\r\n", b"\n").replace(b"\n", payload)
    return data


EDITS = st.lists(st.tuples(
    st.sampled_from(["insert", "insert", "overwrite", "delete", "truncate", "line endings"]),
    st.floats(0, 1),
    st.one_of(st.binary(min_size=1, max_size=6), st.sampled_from([b"\x00", b'"', b",", b"\r", b"\n", b"\r\n",
                                                                  b"\xef\xbb\xbf", b"\xff\xfe", LATIN1_BYTES]),
              st.just(b"x" * ((1 << 20) + 7))),
), max_size=4)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "latin-1", "cp1252"])


@st.composite
def any_files(draw) -> tuple[str, str, bytes]:
    """(kind, format, bytes): random binary, garbage after a valid header, a valid file in another encoding, or a
    valid file with bytes inserted, overwritten, deleted, cut off, or its line endings changed; gzipped or not."""
    kind = draw(st.sampled_from(["purchases", "catalog"]))
    fmt = draw(st.sampled_from(FORMATS))
    source = draw(st.sampled_from(["binary", "header and garbage", "encoded", "edited"]))
    table = draw(tables(kind, max_rows=4)) if source != "binary" else None
    if source == "binary":
        data = draw(st.binary(max_size=400))
    elif source == "header and garbage":
        data = ",".join(table.names).encode() + draw(st.sampled_from([b"\n", b"\r\n", b"\r", b""])) + \
            draw(st.binary(max_size=400))
    elif is_parquet(fmt) and source == "edited":
        data = mutate(parquet_bytes(table, draw(st.booleans())), draw(EDITS))
    else:
        text, _ = csv_text(table, draw(layouts(len(table.rows))))
        data = text.encode(draw(ENCODINGS), errors="replace") if source == "encoded" else \
            mutate(csv_bytes(text, False), draw(EDITS))
    if fmt.lower() == "csv.gz":
        data = mutate(gzip.compress(data, mtime=0), draw(st.sampled_from([[], [], [("truncate", 0.7, b"")],
                                                                          [("overwrite", 0.5, b"\xff")]])))
    return kind, fmt, data


def check_purchases(frame: pd.DataFrame) -> None:
    assert len(frame) > 0
    for name in ("user_id", "item_id"):
        assert (frame[name].cat.codes >= 0).all() and all(frame[name].cat.categories.str.len() > 0)
    assert not frame.timestamp.isna().any()
    assert np.isfinite(frame.quantity).all() and (frame.quantity > 0).all()
    assert not np.isinf(frame.price).any()
    assert frame.city_tier.between(0, MAX_CITY_TIER).all()
    assert not frame.city.isna().any() and not frame.order_id.isna().any()


def check_catalog(frame: pd.DataFrame) -> None:
    assert len(frame) > 0
    assert frame.item_id.is_unique and (frame.item_id.str.len() > 0).all() and (frame.title.str.len() > 0).all()
    assert frame.available.dtype == bool and not np.isinf(frame.price).any()


@settings(FUZZ, max_examples=300)
@given(case=any_files())
def test_any_bytes_load_or_raise_a_contract_error_naming_the_file(folder, case):
    kind, fmt, data = case
    path = write(folder, kind, fmt, data)
    try:
        frame, report = (load_purchases if kind == "purchases" else load_catalog)(path)
    except ContractError as error:
        assert str(error).startswith(f"{path}: "), str(error)
        return
    (check_purchases if kind == "purchases" else check_catalog)(frame)
    assert report.rows_read >= len(frame)


# -- 2. valid tables load exactly as written ---------------------------------------------------------------------------

@st.composite
def written_tables(draw, kind: str) -> tuple[Table, str, bytes]:
    """A valid table written as CSV (any layout), CSV.gz or Parquet (typed or text columns)."""
    table = draw(tables(kind))
    fmt = draw(st.sampled_from(FORMATS))
    if is_parquet(fmt):
        return table, fmt, parquet_bytes(table, draw(st.booleans()))
    text, _ = csv_text(table, draw(layouts(len(table.rows))))
    return table, fmt, csv_bytes(text, fmt.lower() == "csv.gz")


def assert_loaded(frame: pd.DataFrame, table: Table, rows: list[dict[str, Cell]], columns: tuple[str, ...]) -> None:
    for name in columns:
        expected = [row[name].expected if name in table.names else DEFAULTS[name] for row in rows]
        actual = frame[name]
        if name == "timestamp":
            np.testing.assert_array_equal(actual.to_numpy(), np.array(expected, dtype="datetime64[s]"))
        elif actual.dtype.kind == "f":
            np.testing.assert_array_equal(actual.to_numpy(), np.array(expected, dtype=actual.dtype), err_msg=name)
        else:
            assert actual.astype(object).tolist() == expected, name


@settings(FUZZ, max_examples=100)
@given(written=written_tables("purchases"))
def test_valid_purchases_load_as_written(folder, written):
    table, fmt, data = written
    path = write(folder, "valid_purchases", fmt, data)
    kept = [row for row in table.rows if np.float32(row["quantity"].expected if "quantity" in table.names else 1) > 0]
    if not kept:
        with pytest.raises(ContractError, match=re.escape(f"{path}: no usable purchases remain")):
            load_purchases(path)
        return
    frame, report = load_purchases(path)
    assert report.rows_read == len(table.rows) and report.rows_kept == len(kept)
    assert_loaded(frame, table, kept, PURCHASE_REQUIRED + PURCHASE_OPTIONAL)


@settings(FUZZ, max_examples=100)
@given(written=written_tables("catalog"))
def test_valid_catalogs_load_as_written(folder, written):
    table, fmt, data = written
    path = write(folder, "valid_catalog", fmt, data)
    frame, report = load_catalog(path)
    assert report.rows_read == len(table.rows)
    assert_loaded(frame, table, list(table.rows), CATALOG_REQUIRED + CATALOG_OPTIONAL)


# -- 3. one bad cell: the error names the file, its row (and line, when known) and its column -------------------------

BAD_VALUES = {
    "empty": (["", "  ", "\t"], "is empty"),
    "timestamp": (["yesterday", "2025-13-45", "2025-06-01T25:00", "1.5.2025"],
                  "cannot be read as an ISO 8601 time or epoch seconds"),
    "epoch": (["99999999999", "-5"], "is out of range for epoch seconds"),
    "number": (["three", "12kg", "1.2.3", "inf", "-inf", "1e999"], "is not a number"),
    "tier": (["0", "6", "tier 9", "x", "2.5"], f"is not a city tier from 1 to {MAX_CITY_TIER}"),
    "flag": (["maybe", "2", "yesno"], "is not true/false, 1/0 or yes/no"),
    "season": (["13", "June", "6-", "0-3"], "is not a season of months from 1 to 12"),
    "not utf-8": ([NOT_UTF8, "x" + NOT_UTF8], "is not UTF-8 text"),
}
BAD_KINDS = {"user_id": ["empty"], "item_id": ["empty"], "title": ["empty"],
             "timestamp": ["empty", "timestamp", "epoch"], "quantity": ["number"], "price": ["number"],
             "city_tier": ["tier"], "available": ["flag"], "season": ["season"]}


@st.composite
def planted(draw) -> tuple[Table, int, str, str, str]:
    """A valid table with one bad cell: (table, row, column, kind of problem, problem)."""
    table = draw(tables(draw(st.sampled_from(["purchases", "catalog"]))))
    row = draw(st.integers(0, len(table.rows) - 1))
    name = draw(st.sampled_from([name for name in table.names if name not in EXTRA_COLUMNS]))  # extras go unread
    problem = draw(st.sampled_from(BAD_KINDS.get(name, []) + ["not utf-8"]))
    values, message = BAD_VALUES[problem]
    value = draw(st.sampled_from(values))
    return table.with_cell(row, name, Cell(value, value, None)), row, name, problem, message


@settings(FUZZ, max_examples=150)
@given(case=planted(), fmt=st.sampled_from(FORMATS), data=st.data())
def test_a_bad_cell_is_named_by_file_row_and_column(folder, case, fmt, data):
    table, row, name, problem, message = case
    if is_parquet(fmt):
        binary = frozenset({name}) if problem == "not utf-8" else frozenset()
        path = write(folder, "bad", fmt, parquet_bytes(table, False, binary))
        where = re.escape(f"{path}: row {row + 1}")
    else:
        layout = data.draw(layouts(len(table.rows)))
        text, starts = csv_text(table, layout)
        path = write(folder, "bad", fmt, csv_bytes(text, fmt.lower() == "csv.gz"))
        # the line is named whenever each line holds one row, and is never named wrong
        simple = not any(layout.blank_lines) and all(line_breaks(c.text) == 0 for r in table.rows for c in r.values())
        line = rf" \(line {starts[row]}\)"
        where = re.escape(f"{path}: row {row + 1}") + (line if simple else f"({line})?")
    with pytest.raises(ContractError) as raised:
        table.load(path)
    assert re.match(where + re.escape(f", column '{name}': {message}"), str(raised.value)), str(raised.value)


@settings(FUZZ, max_examples=60)
@given(table=tables("catalog", min_rows=2), data=st.data())
def test_a_duplicate_catalog_id_names_both_rows(folder, table, data):
    first = data.draw(st.integers(0, len(table.rows) - 2))
    row = data.draw(st.integers(first + 1, len(table.rows) - 1))
    original = table.rows[first]["item_id"]
    table = table.with_cell(row, "item_id", Cell(" " + original.expected, " " + original.expected, None))
    fmt = data.draw(st.sampled_from(FORMATS))
    starts = None
    if is_parquet(fmt):
        path = write(folder, "duplicate", fmt, parquet_bytes(table, data.draw(st.booleans())))
    else:
        text, starts = csv_text(table, data.draw(layouts(len(table.rows))))
        path = write(folder, "duplicate", fmt, csv_bytes(text, fmt.lower() == "csv.gz"))
    with pytest.raises(ContractError) as raised:
        load_catalog(path)
    message = str(raised.value)
    duplicate = re.match(re.escape(f"{path}: row {row + 1}") + r"(?: \(line (\d+)\))?" + re.escape(
        f", column 'item_id': is a duplicate id (value {shortened(repr(original.expected))})"), message)
    first_at = re.search(re.escape(f"the id is first at row {first + 1}") + r"(?: \(line (\d+)\))?;", message)
    assert duplicate and first_at, message
    if duplicate[1]:  # both lines when the file's lines are known (one row per line), and right
        assert (int(duplicate[1]), int(first_at[1])) == (starts[row], starts[first]), message
    else:
        assert first_at[1] is None, message


@settings(FUZZ, max_examples=80)
@given(table=tables("purchases"), data=st.data())
def test_a_row_with_the_wrong_number_of_fields_is_named_by_its_line(folder, table, data):
    """Rows that do not match the header are a parse error, named by the line (or else the row) they are on."""
    row = data.draw(st.integers(0, len(table.rows) - 1))
    values = [table.rows[row][name].text for name in table.names]
    values = values[:-1] if data.draw(st.booleans()) else values + ["surplus"]
    layout = data.draw(layouts(len(table.rows)))
    text, starts = csv_text(table, layout, {row: values})
    fmt = data.draw(st.sampled_from([fmt for fmt in FORMATS if not is_parquet(fmt)]))
    path = write(folder, "fields", fmt, csv_bytes(text, fmt.lower() == "csv.gz"))
    with pytest.raises(ContractError) as raised:
        load_purchases(path)
    counts = rf" has {len(values)} fields where the header has {len(table.names)} "
    line = re.escape(f"{path}: line {starts[row]}") + counts
    message = str(raised.value)
    if any(layout.blank_lines):
        assert re.match(line, message) or re.match(re.escape(f"{path}: row {row + 1}") + counts, message), message
    else:
        assert re.match(line, message), message


@settings(FUZZ, max_examples=30)
@given(table=tables("purchases"), data=st.data())
def test_a_repeated_contract_column_is_refused(folder, table, data):
    """Two columns of one name: which one is meant is unknown, in CSV as in Parquet."""
    name = data.draw(st.sampled_from([name for name in table.names if name not in EXTRA_COLUMNS]))
    names = list(table.names)
    names.insert(data.draw(st.integers(0, len(names))), name)
    columns = [[row[column].text for row in table.rows] for column in names]
    fmt = data.draw(st.sampled_from(FORMATS))
    if is_parquet(fmt):
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_arrays([pa.array(values) for values in columns], names=names), sink)
        content = sink.getvalue()
    else:
        text = io.StringIO()
        csv.writer(text, quoting=csv.QUOTE_ALL).writerows([names, *zip(*columns)])
        content = csv_bytes(text.getvalue(), fmt.lower() == "csv.gz")
    path = write(folder, "repeated", fmt, content)
    header = "the header" if is_parquet(fmt) else "the header (line 1)"
    with pytest.raises(ContractError, match=re.escape(f"{path}: {header} repeats {name!r}")):
        load_purchases(path)
