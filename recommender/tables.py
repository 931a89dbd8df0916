"""Reading and writing tables as typed Arrow columns: CSV (plain or gzip) and Parquet.

Everything is columnar (no Python object per row), so a file needs a small multiple of its size
in memory.
"""
from __future__ import annotations

import codecs
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from recommender.atomic import atomic_file
from recommender.contract import BadRows, ContractError

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
BLOCK_SIZE = 1 << 24
"""Bytes of CSV parsed at a time: about the longest row (a long description, say) the reader accepts."""
HEADER_BYTES = 1 << 20
"""The start of a CSV file read for its header (which must fit)."""
BINARY_AS_TEXT = {pa.binary(): pa.string(), pa.large_binary(): pa.large_string()}


def is_parquet(path: str | os.PathLike) -> bool:
    """True when the path names a Parquet file (by its suffix)."""
    return str(path).lower().endswith(PARQUET_SUFFIXES)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise ContractError(f"{path}: no such file")
    if path.is_dir():
        raise ContractError(f"{path}: is a directory, expected a CSV or Parquet file")
    name = path.name.lower()
    if not (name.endswith(PARQUET_SUFFIXES) or name.endswith(CSV_SUFFIXES)):
        raise ContractError(
            f"{path}: unknown file type; expected one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}"
        )


def _open(path: Path) -> pa.NativeFile:
    """The bytes of a CSV file, decompressed when its name ends in .gz (in any case)."""
    return pa.input_stream(str(path), compression="gzip" if path.name.lower().endswith(".gz") else None)


def _utf8_replaced(path: Path) -> pa.BufferReader:
    """The (decompressed) bytes of a CSV file with those that are not UTF-8 replaced by U+FFFD, in memory:
    pyarrow fails, printing a traceback, when it hands a row that is not UTF-8 to an invalid-row handler."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = pa.BufferOutputStream()
    with _open(path) as stream:
        while block := stream.read(BLOCK_SIZE):
            text.write(decoder.decode(block).encode())
    text.write(decoder.decode(b"", final=True).encode())
    return pa.BufferReader(text.getvalue())


def read_header(path: str | os.PathLike) -> list[str]:
    """Column names of a CSV or Parquet file, without reading its rows."""
    path = Path(path)
    _check_readable(path)
    try:
        if is_parquet(path):
            return list(pq.read_schema(path).names)
        with _open(path) as stream:
            head = stream.read(HEADER_BYTES).decode("utf-8", "replace").encode()  # see _utf8_replaced
        with pa_csv.open_csv(pa.BufferReader(head), read_options=pa_csv.ReadOptions(block_size=BLOCK_SIZE),
                             parse_options=_parse_options(path, malformed=[])) as reader:
            names = list(reader.schema.names)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:  # the last: a Parquet name not in UTF-8
        raise ContractError(f"{path}: cannot read the header: {exc}") from exc
    if any("\ufffd" in name for name in names):
        raise ContractError(f"{path}: the header is not UTF-8 text (a UTF-16 or Latin-1 file?); save it as UTF-8")
    return names


def read_columns(path: str | os.PathLike, columns: list[str], multiline: bool = False) -> pa.Table:
    """Read the named columns of a CSV or Parquet file.

    CSV columns are read as text so that each value is checked by the contract, not guessed by a
    type inference that would fail on row 1,000,000 with an unhelpful message; ``multiline``
    allows quoted values that span lines (slower to parse). Parquet keeps its stored types.
    """
    path = Path(path)
    _check_readable(path)
    try:
        if is_parquet(path):
            return _checked_text(pq.read_table(path, columns=columns), path)
        convert = pa_csv.ConvertOptions(
            include_columns=columns,
            column_types={name: pa.string() for name in columns},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            check_utf8=False,  # checked by _checked_text, which names the row
        )
        try:
            with _open(path) as stream:
                table = pa_csv.read_csv(stream, read_options=pa_csv.ReadOptions(block_size=BLOCK_SIZE),
                                        parse_options=_parse_options(path, multiline), convert_options=convert)
        except pa.ArrowInvalid as exc:
            raise _parse_error(path, multiline, convert, exc) from exc
        return _checked_text(table, path)
    except pa.ArrowException as exc:
        raise ContractError(f"{path}: not a readable {'Parquet' if is_parquet(path) else 'CSV'} file: {exc}") from exc
    except OSError as exc:
        raise ContractError(f"{path}: cannot read: {exc}") from exc


def _parse_options(path: Path, multiline: bool = False, malformed: list | None = None) -> pa_csv.ParseOptions:
    """CSV parse options; rows with the wrong number of fields are collected in ``malformed``."""
    delimiter = "\t" if ".tsv" in path.name.lower() else ","

    def collect(row) -> str:
        malformed.append(row)
        return "skip"

    return pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=multiline,
                               invalid_row_handler=collect if malformed is not None else None)


def _parse_error(path: Path, multiline: bool, convert: pa_csv.ConvertOptions, exc: pa.ArrowInvalid) -> ContractError:
    """Name the first row whose field count differs from the header's (re-read serially for its number), or
    else pass on the reader's own words."""
    malformed: list = []
    try:
        with _utf8_replaced(path) as text:
            good = pa_csv.read_csv(text, read_options=pa_csv.ReadOptions(use_threads=False, block_size=BLOCK_SIZE),
                                   parse_options=_parse_options(path, multiline, malformed),
                                   convert_options=convert).num_rows
    except (pa.ArrowException, OSError):
        malformed = []
    if not malformed:
        return ContractError(f"{path}: not a readable CSV file: {exc}")
    row = malformed[0]
    data_row = row.number - 1  # Arrow numbers records from the header's 1
    line = csv_line(path, data_row - 1, good + len(malformed))
    where = f"line {line}" if line else f"row {data_row}"
    others = f"; {len(malformed)} rows in all have this problem" if len(malformed) > 1 else ""
    return ContractError(
        f"{path}: {where} has {row.actual_columns} fields where the header has {row.expected_columns} "
        f"(text {row.text[:120]!r}){others}"
    )


def csv_line(path: str | os.PathLike, row: int, rows: int) -> int | None:
    """The line of a CSV file that holds data row ``row`` (0-based) of ``rows``: known when each line of the
    file holds one row, None when blank lines or values spanning lines make it unknown."""
    ends, last = 0, b""
    with _open(Path(path)) as stream:
        while block := stream.read(BLOCK_SIZE):
            ends += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
            ends -= last.endswith(b"\r") and block.startswith(b"\n")
            last = block
    lines = ends + (not last.endswith((b"\n", b"\r")))
    return row + 2 if lines == rows + 1 else None


def _checked_text(table: pa.Table, path: Path) -> pa.Table:
    """The table with binary columns read as text, and every text column checked to be UTF-8: neither reader
    checks it (the CSV one is told not to), and this check names the first bad row."""
    for index, name in enumerate(table.column_names):
        column = table.column(index)
        if column.type in BINARY_AS_TEXT:
            column = column.cast(BINARY_AS_TEXT[column.type], safe=False)
            table = table.set_column(index, name, column)
        if (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) and not _is_utf8(column):
            row = _first_not_utf8(column)
            value = column.slice(row, 1).cast(pa.binary())[0].as_py().decode("utf-8", "replace")
            line = None if is_parquet(path) else csv_line(path, row, table.num_rows)
            raise BadRows(str(path), name, "is not UTF-8 text", row, value, 1, line).error()
    return table


def _is_utf8(column: pa.ChunkedArray) -> bool:
    try:
        column.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _first_not_utf8(column: pa.ChunkedArray) -> int:
    """The first row of a text column that is not UTF-8, by bisection with Arrow's own check."""
    start, stop = 0, len(column)
    while stop - start > 1:
        middle = (start + stop) // 2
        if _is_utf8(column.slice(start, middle - start)):
            start = middle
        else:
            stop = middle
    return start


def write_table(table: pa.Table, path: str | os.PathLike) -> Path:
    """Write a table atomically as CSV (gzip-compressed when the name ends in ``.gz``) or Parquet."""
    path = Path(path)
    with atomic_file(path) as tmp:
        if is_parquet(path):
            pq.write_table(table, tmp)
        elif path.name.lower().endswith(".gz"):
            with pa.CompressedOutputStream(str(tmp), "gzip") as stream:
                pa_csv.write_csv(table, stream)
        else:
            pa_csv.write_csv(table, tmp)
    return path
