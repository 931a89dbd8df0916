"""Reading and writing tables as typed Arrow columns: CSV (plain or gzip) and Parquet.

Everything is columnar (no Python object per row), so a file needs a small multiple of its size
in memory.
"""
from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from recommender.atomic import atomic_file
from recommender.contract import ContractError

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")


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


def read_header(path: str | os.PathLike) -> list[str]:
    """Column names of a CSV or Parquet file, without reading its rows."""
    path = Path(path)
    _check_readable(path)
    try:
        if is_parquet(path):
            return list(pq.read_schema(path).names)
        with pa_csv.open_csv(path, parse_options=_parse_options(path, malformed=[])) as reader:
            return list(reader.schema.names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ContractError(f"{path}: cannot read the header: {exc}") from exc


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
            return pq.read_table(path, columns=columns)
        convert = pa_csv.ConvertOptions(
            include_columns=columns,
            column_types={name: pa.string() for name in columns},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        malformed: list = []
        parse = _parse_options(path, multiline, malformed)
        table = pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(block_size=1 << 24),
                                parse_options=parse, convert_options=convert)
        if malformed:
            raise _malformed_row_error(path, multiline, convert, len(malformed))
        return table
    except pa.ArrowInvalid as exc:
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


def _malformed_row_error(path: Path, multiline: bool, convert: pa_csv.ConvertOptions, count: int) -> ContractError:
    """Name the first row whose field count differs from the header's (re-read serially for its line)."""
    first: list = []
    pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(use_threads=False),
                    parse_options=_parse_options(path, multiline, first), convert_options=convert)
    row = first[0]
    where = f"line {row.number}" if row.number is not None else "a row"
    others = f"; {count} rows in all have this problem" if count > 1 else ""
    return ContractError(
        f"{path}: {where} has {row.actual_columns} fields where the header has {row.expected_columns} "
        f"(text {row.text[:120]!r}){others}"
    )


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
