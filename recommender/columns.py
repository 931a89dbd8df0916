"""Vectorised parsers for single columns of the data contract.

Each parser takes a column as read from the file and returns typed values, or raises the
contract error of the first bad row (with how many rows are bad in all). ``where`` names the
file and the column; row positions are 0-based among data rows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from recommender.contract import (
    FALSE_WORDS,
    MAX_CITY_TIER,
    TAG_SEPARATOR,
    TRUE_WORDS,
    BadRows,
)
from recommender.tables import csv_line

EPOCH_SECONDS_MAX = 4_102_444_800  # 2100-01-01: larger numbers are not epoch seconds
COMMA_NUMBER = re.compile(r"[-+]?[\d.]*\d,\d[\d.,]*")
"""A number written with a comma between digits: a decimal comma (35,50) or thousands separators (1,234.5)."""
ZONED_TIME = r"\d[T ]\d\d(?::?\d\d)*(?:[.,]\d+)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)\s*$"
"""A date and time with a zone (``Z``, ``+08:00``, ``-0330``, ``+08``) at its end."""
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)
"""pandas 3's default ``"str"`` dtype, spelled out so pandas 2.3 behaves the same (missing values stay NaN)."""


@dataclass(frozen=True)
class Where:
    """The file and column a parser is working on."""

    path: str
    column: str
    is_csv: bool

    def check(self, bad: np.ndarray, values: pd.Series, problem: str, show_value: bool = True) -> None:
        """Raise the contract error for the first True in ``bad``, if any."""
        if not bad.any():
            return
        positions = np.flatnonzero(bad)
        first = int(positions[0])
        value = values.iloc[first] if show_value else None
        line = csv_line(self.path, first, len(bad)) if self.is_csv else None
        raise BadRows(self.path, self.column, problem, first, value, len(positions), line).error()


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


def numbers(column, where: Where, default: float = np.nan) -> np.ndarray:
    """Finite numbers as float64; empty values become ``default``."""
    fast = strict_cast(column, pa.float64())
    if fast is not None:
        parsed = fast.to_numpy(zero_copy_only=False)  # nulls become nan
        missing = np.isnan(parsed) & np.asarray(fast.is_null())
        if np.isfinite(parsed[~missing]).all():
            return np.where(missing, default, parsed)
    values = as_series(column)
    parsed = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    missing = values.isna().to_numpy()
    if pd.api.types.is_string_dtype(values):
        missing = missing | values.str.strip().eq("").to_numpy()
    bad = ~missing & ~np.isfinite(parsed)
    where.check(bad, values, _number_problem(values, bad))
    return np.where(missing, default, parsed)


def _number_problem(values: pd.Series, bad: np.ndarray) -> str:
    """What is wrong with the first bad number, with the likely cause when it holds a comma
    between digits (a decimal comma, or a thousands separator)."""
    if bad.any() and COMMA_NUMBER.fullmatch(str(values.iloc[int(np.flatnonzero(bad)[0])]).strip()):
        return ("is not a number: write numbers with a decimal point and no thousands separator (a spreadsheet "
                "set to a European locale writes 35,50 for 35.50: change the locale or the column's format)")
    return "is not a number"


def timestamps(column, where: Where) -> np.ndarray:
    """Timestamps as ``datetime64[s]`` in UTC, from ISO 8601 text, epoch seconds or native timestamps."""
    if pa.types.is_timestamp(column.type):
        values = as_series(column)
        where.check(values.isna().to_numpy(), values, "is empty", show_value=False)
        if values.dt.tz is not None:
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.to_numpy().astype("datetime64[s]")
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
        where.check(bad, values, "cannot be read as an ISO 8601 time or epoch seconds")
        result[~is_epoch] = parsed.dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    return result


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
