"""The ``forecast`` and ``forecast-backtest`` jobs: forecast tables written atomically, backtests printed.

Output columns (``recommender forecast --out``): ``item_id`` (``--by item``), plus ``city_tier``
(``--by item,city_tier``; 0 = unknown tier), or ``merchant_id`` alone (``--by merchant``: each
merchant's bottom-up total), then ``period_start`` (the period's first day: Monday for weeks),
``p10``, ``p50``, ``p90`` (units) and ``model`` (the method selected for the series, or
``bottom-up (selected)`` for merchant totals).
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa

from recommender.forecasting import Forecast
from recommender.tables import write_table

KEYS = {"item": ["item_id"], "item,city_tier": ["item_id", "city_tier"], "merchant": ["merchant_id"]}
VALUES = ["period_start", "p10", "p50", "p90", "model"]


def output_table(forecast: Forecast) -> pd.DataFrame:
    """The forecast in the command's output columns, rounded to 0.01 unit."""
    table = forecast.table()[KEYS[forecast.by] + VALUES]
    return table.round({"p10": 2, "p50": 2, "p90": 2})


def write_forecast(forecast: Forecast, path: str | os.PathLike) -> Path:
    """Write the output table atomically (CSV, CSV.gz or Parquet by the file name)."""
    table = output_table(forecast)
    table["period_start"] = table.period_start.astype("str")
    return write_table(pa.Table.from_pandas(table, preserve_index=False), path)
