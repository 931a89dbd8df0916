"""Reading and writing tables as typed Arrow columns: CSV (plain or gzip) and Parquet.

Everything is columnar (no Python object per row), so a file needs a small multiple of its size
in memory. A CSV file's field separator is the one of :data:`~recommender.contract.CSV_DELIMITERS`
its header line holds most of; text that is not UTF-8 is refused with a guess at its encoding.
"""
from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from recommender.atomic import atomic_file
from recommender.contract import CSV_DELIMITERS, BadRows, ContractError, shortened

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
BLOCK_SIZE = 1 << 24
"""Bytes of CSV parsed at a time: about the longest row (a long description, say) the reader accepts."""
HEADER_BYTES = 1 << 20
"""The start of a CSV file read for its header (which must fit)."""
DELIMITER_BYTES = 1 << 16
"""The start of a CSV file read for the header line that tells its field separator."""
BINARY_AS_TEXT = {pa.binary(): pa.string(), pa.large_binary(): pa.large_string()}
CHINESE_TEXT = re.compile("[\x00-\x7f\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]*")
"""ASCII, CJK punctuation, CJK ideographs and full-width forms: the text of a Chinese spreadsheet."""
NON_ASCII_BYTES = bytes(range(0x80, 0x100))


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
            head = stream.read(HEADER_BYTES)
        text = head.decode("utf-8", "replace").encode()  # see _utf8_replaced
        with pa_csv.open_csv(pa.BufferReader(text), read_options=pa_csv.ReadOptions(block_size=BLOCK_SIZE),
                             parse_options=_parse_options(path, malformed=[])) as reader:
            names = list(reader.schema.names)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:  # the last: a Parquet name not in UTF-8
        raise ContractError(f"{path}: cannot read the header: {exc}") from exc
    if any("\ufffd" in name or "\x00" in name for name in names):  # a NUL: UTF-16 text
        raise ContractError(f"{path}: the header (line 1) is not UTF-8 text; {_not_utf8_advice(_first_line(head))}")
    return names


def _first_line(head: bytes) -> bytes:
    """The bytes before the first line break."""
    return head.split(b"\n", 1)[0].split(b"\r", 1)[0]


def _delimiter(path: str | os.PathLike) -> str:
    """The field separator of a CSV file: of :data:`~recommender.contract.CSV_DELIMITERS`, the one its header
    line holds most of; on a tie the comma, or the tab in a .tsv file."""
    path = Path(path)
    with _open(path) as stream:
        line = _first_line(stream.read(DELIMITER_BYTES))
    usual = "\t" if ".tsv" in path.name.lower() else ","
    return max(CSV_DELIMITERS, key=lambda delimiter: (line.count(delimiter.encode()), delimiter == usual))


def _not_utf8_advice(data: bytes) -> str:
    """Advice on bytes of a file that are not UTF-8: the encoding they are probably in and how they read in it
    (when a guess fits), and to save the file as UTF-8."""
    guess = _probable_encoding(data)
    if guess is None:
        return "save the file as UTF-8"
    name, codec = guess
    reading = shortened(repr(data.decode(codec, "replace")))
    return f"the file is probably {name}, in which this reads {reading}: save the file as UTF-8"


def _probable_encoding(data: bytes) -> tuple[str, str] | None:
    """(name, Python codec) of the encoding that bytes which are not UTF-8 are probably in, or None: UTF-16 when
    they start with its byte-order mark or hold a NUL, GBK when they read as Chinese text in it
    (:func:`_reads_as_chinese`), else Windows-1252 (a superset of Latin-1's printable text) when they decode in it."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16", "utf-16"
    if b"\x00" in data:
        return "UTF-16", "utf-16-be" if data.startswith(b"\x00") else "utf-16-le"
    if _reads_as_chinese(data):
        return "GBK (GB18030)", "gb18030"
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    return "Latin-1 (Windows-1252)", "cp1252"


def _reads_as_chinese(data: bytes) -> bool:
    """True when the bytes decode as GB18030 (which covers GBK and GB2312) into :data:`CHINESE_TEXT` with every
    ASCII byte read as itself: in Latin-1 text, the byte of an accented letter would take the ASCII letter after
    it as the second byte of a Chinese character."""
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return False
    return CHINESE_TEXT.fullmatch(text) is not None and \
        text.encode("ascii", "ignore") == data.translate(None, NON_ASCII_BYTES)


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
    """CSV parse options (the file's own delimiter); rows with the wrong number of fields are collected in
    ``malformed``."""

    handler = None
    if malformed is not None:
        rows = malformed

        def collect(row) -> str:
            rows.append(row)
            return "skip"

        handler = collect
    return pa_csv.ParseOptions(delimiter=_delimiter(path), newlines_in_values=multiline, invalid_row_handler=handler)


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
            data = column.slice(row, 1).cast(pa.binary())[0].as_py()
            line = None if is_parquet(path) else csv_line(path, row, table.num_rows)
            raise BadRows(str(path), name, "is not UTF-8 text", row, data.decode("utf-8", "replace"), 1, line,
                          _not_utf8_advice(data)).error()
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
