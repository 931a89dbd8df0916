"""The ``forecast`` job's output: the forecast table, written atomically.

Output columns (``recommender forecast --out``): ``item_id`` (``--by item``), plus ``city_tier``
(``--by item,city_tier``; 0 = unknown tier), or ``merchant_id`` alone (``--by merchant``: each
merchant's total), then ``period_start`` (the period's first day: Monday for weeks),
``sold_so_far``, ``p10``, ``p50``, ``p90`` (units) and the explanations: ``model`` (the method selected for the series),
``recent_level``, ``previous_level``, ``recent_trend``, ``rising`` (:data:`recommender.forecasting.spec.EXPLAINED`).
When the data stops inside a period, that current period comes first: ``sold_so_far`` is what its
observed days sold and P10/P50/P90 are the whole period's (sales so far plus the forecast of its
remaining days); the forecast periods after it leave ``sold_so_far`` empty.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa

from recommender.columns import TEXT
from recommender.forecasting.spec import CURRENT_VALUES, KEYS
from recommender.forecasting.views import Forecast, rounded
from recommender.tables import write_table


def output_table(forecast: Forecast) -> pd.DataFrame:
    """The forecast in the command's output columns, rounded as published."""
    current = forecast.current_table()
    parts = [forecast.table()] if current is None else [current, forecast.table()]
    return rounded(pd.concat(parts, ignore_index=True).reindex(columns=KEYS[forecast.by] + CURRENT_VALUES))


def write_forecast(forecast: Forecast, path: str | os.PathLike) -> Path:
    """Write the output table atomically (CSV, CSV.gz or Parquet by the file name)."""
    table = output_table(forecast)
    table["period_start"] = table.period_start.astype(TEXT)
    return write_table(pa.Table.from_pandas(table, preserve_index=False), path)
