"""Vectorised parsers for single columns of the data contract.

Each parser takes a column as read from the file and returns typed values, or raises the
contract error of the first bad row (with how many rows are bad in all). ``where`` names the
file and the column; row positions are 0-based among data rows.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recommender.contract import (
    FALSE_WORDS,
    MAX_CITY_TIER,
    TAG_SEPARATOR,
    TRUE_WORDS,
    BadRows,
    ContractError,
)
from recommender.tables import csv_line

EPOCH_SECONDS_MAX = 4_102_444_800  # 2100-01-01: larger numbers are not epoch seconds
COMMA_NUMBER = re.compile(r"[-+]?[\d.]*\d,\d[\d.,]*")
"""A number written with a comma between digits: a decimal comma (35,50) or thousands separators (1,234.5)."""
ZONED_TIME = r"\d[T ]\d\d(?::?\d\d)*(?:[.,]\d+)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)\s*$"
"""A date and time with a zone (``Z``, ``+08:00``, ``-0330``, ``+08``) at its end."""
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)
"""pandas 3's default ``"str"`` dtype, spelled out so pandas 2.3 behaves the same (missing values stay NaN)."""
SHOP_DATE_FORMATS = ("%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y",
                     "%m/%d/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y", "%d-%m-%Y %H:%M", "%d-%m-%Y",
                     "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d")
"""Time formats of shop and spreadsheet exports that an unreadable time's error may suggest, the first the example."""
ADVICE_SAMPLE = 1_000
ISO_DATE = r"\d{4}-\d{1,2}-\d{1,2}"
"""Unreadable times a suggested format must read."""


@dataclass(frozen=True)
class Where:
    """The file and column a parser is working on."""

    path: str
    column: str
    is_csv: bool

    def check(self, bad: np.ndarray, values: pd.Series, problem: str, show_value: bool = True,
              advice: Callable[[], str] | None = None) -> None:
        """Raise the contract error for the first True in ``bad``, if any, with what ``advice()`` says
        to do about it."""
        if not bad.any():
            return
        positions = np.flatnonzero(bad)
        first = int(positions[0])
        value = values.iloc[first] if show_value else None
        line = csv_line(self.path, first, len(bad)) if self.is_csv else None
        raise BadRows(self.path, self.column, problem, first, value, len(positions), line,
                      advice() if advice else "").error()


def _is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def text_types(arrow_type: pa.DataType) -> pd.StringDtype | None:
    """A ``types_mapper`` for Arrow's ``to_pandas``: text becomes :data:`TEXT`, other types keep the default."""
    return TEXT if _is_text(arrow_type) else None


def as_series(column: pa.ChunkedArray | pa.Array) -> pd.Series:
    """An Arrow column as a pandas Series (text stays Arrow-backed: no Python object per row)."""
    return column.to_pandas(types_mapper=text_types)


def strict_cast(column, target: pa.DataType):
    """Arrow's own cast of a whole column (fast, in C++), or None when any value does not parse.

    Parsers try it first; only when it fails do they take the slower path that finds the bad row.
    """
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def text(column, where: Where, required: bool = False, default: str = "") -> pd.Series:
    """Stripped text; empty values are an error when ``required``, else ``default``."""
    values = as_series(column)
    if not pd.api.types.is_string_dtype(values):
        values = values.astype(TEXT)
    stripped = values.str.strip()
    empty = (stripped.isna() | stripped.eq("")).to_numpy()
    if required:
        where.check(empty, values, "is empty", show_value=False)
        return stripped
    return stripped.where(~empty, default)


def numbers(column, where: Where, default: float = np.nan, decimal_comma: bool = False) -> np.ndarray:
    """Finite numbers as float64; empty values become ``default``. ``decimal_comma``: text numbers
    are written with a decimal comma (``35,50``), read after Arrow swaps it for a point."""
    read = pc.replace_substring(column, ",", ".") if decimal_comma and _is_text(column.type) else column
    fast = strict_cast(read, pa.float64())
    if fast is not None:
        parsed = fast.to_numpy(zero_copy_only=False)  # nulls become nan
        missing = np.isnan(parsed) & np.asarray(fast.is_null())
        if np.isfinite(parsed[~missing]).all():
            return np.where(missing, default, parsed)
    values = as_series(column)
    parsed = pd.to_numeric(as_series(read), errors="coerce").astype("float64").to_numpy()
    missing = values.isna().to_numpy()
    if pd.api.types.is_string_dtype(values):
        missing = missing | values.str.strip().eq("").to_numpy()
    bad = ~missing & ~np.isfinite(parsed)
    where.check(bad, values, "is not a number", advice=lambda: _number_advice(values, bad, decimal_comma))
    return np.where(missing, default, parsed)


def _number_advice(values: pd.Series, bad: np.ndarray, decimal_comma: bool) -> str:
    """What to do about the first bad number: ``--decimal-comma`` when it holds a comma between digits
    (a decimal comma, or a thousands separator), or what that option reads."""
    if decimal_comma:
        return "read with --decimal-comma: a decimal comma and no thousands separator, such as 1234,50"
    if COMMA_NUMBER.fullmatch(str(values.iloc[int(np.flatnonzero(bad)[0])]).strip()):
        return ("if the file writes decimals with a comma (35,50 for 35.50, as a spreadsheet set to a European "
                "locale does), use --decimal-comma; a thousands separator (1,234.50) must be removed")
    return ""


def timestamps(column, where: Where, date_format: str | None = None) -> np.ndarray:
    """Timestamps as ``datetime64[s]`` in UTC, from ISO 8601 text, epoch seconds or native timestamps;
    text in ``date_format`` (``strftime`` codes) when one is given."""
    if pa.types.is_timestamp(column.type):
        values = as_series(column)
        where.check(values.isna().to_numpy(), values, "is empty", show_value=False)
        if values.dt.tz is not None:
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.to_numpy().astype("datetime64[s]")
    if date_format is not None:
        return _formatted_times(column, where, date_format)
    if _is_text(column.type) and column.null_count == 0:
        for target in (pa.timestamp("us", tz="UTC"), pa.timestamp("us")):  # ISO 8601, with or without a zone
            fast = strict_cast(column, target)
            if fast is not None:
                return fast.to_numpy().astype("datetime64[s]")
        fast = strict_cast(column, pa.float64())  # epoch seconds
        if fast is not None:
            seconds = fast.to_numpy()
            if ((seconds >= 0) & (seconds < EPOCH_SECONDS_MAX)).all():
                return seconds.astype("int64").astype("datetime64[s]")
    values = as_series(column)
    missing = values.isna().to_numpy()
    if pd.api.types.is_string_dtype(values):
        missing = missing | values.str.strip().eq("").to_numpy()
    where.check(missing, values, "is empty", show_value=False)
    epoch = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    is_epoch = np.isfinite(epoch)
    where.check(is_epoch & ((epoch < 0) | (epoch >= EPOCH_SECONDS_MAX)), values,
                "is out of range for epoch seconds (1970 to 2100)")
    result = np.empty(len(values), dtype="datetime64[s]")
    result[is_epoch] = epoch[is_epoch].astype("int64").astype("datetime64[s]")
    if not is_epoch.all():
        parsed = _iso_times(values[~is_epoch].astype(TEXT))
        bad = np.zeros(len(values), dtype=bool)
        bad[~is_epoch] = parsed.isna().to_numpy()
        where.check(bad, values, "cannot be read as an ISO 8601 time or epoch seconds",
                    advice=lambda: date_format_advice(values[bad]))
        result[~is_epoch] = parsed.dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    return result


def _formatted_times(column, where: Where, date_format: str) -> np.ndarray:
    """Text times in ``date_format``, read by pandas (``format=``; UTC unless the format has ``%z``)."""
    values = as_series(column).astype(TEXT)
    stripped = values.str.strip()
    where.check((stripped.isna() | stripped.eq("")).to_numpy(), values, "is empty", show_value=False)
    try:
        parsed = pd.to_datetime(stripped, format=date_format, utc=True, errors="coerce")
    except ValueError as exc:  # a format pandas cannot use at all
        raise ContractError(f"--date-format {date_format!r}: not a format pandas reads ({exc})") from None
    where.check(parsed.isna().to_numpy(), values, f"does not match --date-format {date_format!r}",
                advice=lambda: date_format_advice(stripped[parsed.isna()], date_format))
    return parsed.dt.tz_localize(None).to_numpy().astype("datetime64[s]")


def date_format_advice(unread: pd.Series, given: str | None = None) -> str:
    """Which ``--date-format`` to use for times that could not be read: the usual formats of shop
    exports that read the first :data:`ADVICE_SAMPLE` of them (day-first and month-first alike when
    both do), else an example of the option."""
    sample = unread.iloc[:ADVICE_SAMPLE].astype(TEXT).str.strip()
    fitting = [f for f in SHOP_DATE_FORMATS if f != given
               and pd.to_datetime(sample, format=f, errors="coerce").notna().all()]
    if not fitting:
        if sample.str.match(ISO_DATE).all():  # ISO 8601 with a date that does not exist: no format helps
            return ""
        return (f"use --date-format, e.g. --date-format {SHOP_DATE_FORMATS[0]!r}, with the strftime codes the file's "
                "times are written in")
    advice = f"use --date-format, e.g. --date-format {fitting[0]!r}, which reads them"
    if len(fitting) > 1:
        advice += f" (so does {fitting[1]!r}: choose the order of day and month your file writes)"
    return advice


def _iso_times(values: pd.Series) -> pd.Series:
    """ISO 8601 text as UTC times (NaT where unreadable). Times with a zone and without are parsed apart:
    pandas (2.3) gives a time without a zone the zone of a time before it that had one."""
    zoned = values.str.contains(ZONED_TIME, regex=True)
    return pd.concat([pd.to_datetime(values[group], format="ISO8601", utc=True, errors="coerce")
                      for group in (zoned, ~zoned)]).reindex(values.index)


def city_tiers(column, where: Where, unknown: int) -> np.ndarray:
    """City tiers 1..MAX_CITY_TIER as int8 (``3`` or ``tier 3``); empty means ``unknown``."""
    fast = strict_cast(column, pa.int8())
    if fast is not None:
        tiers = fast.fill_null(unknown).to_numpy()
        if ((tiers == unknown) | ((tiers >= 1) & (tiers <= MAX_CITY_TIER))).all() and \
                (tiers[np.asarray(fast.is_valid())] != unknown).all():
            return tiers.astype("int8")
    values = as_series(column)
    cleaned = values.astype(TEXT).str.strip().str.lower().str.removeprefix("tier").str.strip()
    missing = (values.isna() | cleaned.eq("")).to_numpy()
    parsed = pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    valid = np.isin(parsed, np.arange(1, MAX_CITY_TIER + 1))
    where.check(~missing & ~valid, values, f"is not a city tier from 1 to {MAX_CITY_TIER}")
    return np.where(valid, parsed, unknown).astype("int8")


def booleans(column, where: Where, default: bool) -> np.ndarray:
    """Flags from true/false, 1/0, yes/no (any case); empty means ``default``."""
    if pa.types.is_boolean(column.type):
        values = as_series(column)
        return values.fillna(default).to_numpy(dtype=bool)
    values = as_series(column)
    words = values.astype(TEXT).str.strip().str.lower()
    missing = (values.isna() | words.eq("")).to_numpy()
    is_true = words.isin(TRUE_WORDS).to_numpy()
    is_false = words.isin(FALSE_WORDS).to_numpy()
    where.check(~missing & ~is_true & ~is_false, values, "is not true/false, 1/0 or yes/no")
    return np.where(missing, default, is_true)


def tags(column, where: Where) -> pd.Series:
    """Semicolon-separated labels, lower-cased, trimmed, without empty labels."""
    values = text(column, where)
    sep = TAG_SEPARATOR
    return (values.str.lower().str.replace(rf"\s*{sep}\s*", sep, regex=True)
            .str.replace(rf"{sep}{{2,}}", sep, regex=True).str.strip(f"{sep} "))


MONTH_SPAN = re.compile(r"^(\d{1,2})(?:-(\d{1,2}))?$")


def month_mask(text_value: str) -> int | None:
    """The months of a season such as ``6-8``, ``6,7,8`` or ``11-2`` (a span may wrap past December;
    spans and months are separated by commas, semicolons or spaces) as a 12-bit mask, bit ``m - 1``
    for month ``m``; 0 for an empty value, None for one that is not a season."""
    mask = 0
    for part in re.split(r"[,;\s]+", re.sub(r"\s*-\s*", "-", text_value.strip())):
        if not part:
            continue
        span = MONTH_SPAN.match(part)
        if span is None:
            return None
        first, last = int(span.group(1)), int(span.group(2) or span.group(1))
        if not (1 <= first <= 12 and 1 <= last <= 12):
            return None
        months = range(first, last + 1) if first <= last else [*range(first, 13), *range(1, last + 1)]
        for month in months:
            mask |= 1 << (month - 1)
    return mask


def seasons(column, where: Where) -> np.ndarray:
    """Seasons of months (:func:`month_mask`: ``6-8``, ``6,7,8``, ``11-2``) as 12-bit masks (int16); an
    empty value (no season) is 0."""
    values = text(column, where)
    masks = {value: month_mask(value) for value in values.unique()}
    parsed = values.map(masks)
    where.check(parsed.isna().to_numpy(), values,
                "is not a season of months from 1 to 12, such as '6-8', '6,7,8' or '11-2'")
    return parsed.to_numpy(dtype=np.int16)
