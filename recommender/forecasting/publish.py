"""Publishing forecasts for the serving API: ``recommender forecast-publish`` fits the whole catalog's
items once (:func:`~recommender.forecasting.selection.forecast_panel`; items x city tiers are split
from that fit by :func:`~recommender.forecasting.hierarchy.split_by_tier`, merchant totals are the
reconciled hierarchy's, :func:`~recommender.forecasting.hierarchy.reconcile_fit`, exactly as
``recommender forecast --by item,city_tier`` and ``--by merchant``) and
writes the forecast directory :mod:`~recommender.forecasting.published` describes and reads: the
whole periods after the data's last day, and, when the data stops inside a period, that current
period as sales so far plus the forecast of its remaining days.
"""
from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recommender.artifacts import MANIFEST, sha256_of
from recommender.atomic import atomic_directory
from recommender.columns import TEXT
from recommender.forecasting.calendar_features import PERIOD_DAYS
from recommender.forecasting.calibration import validation_origins
from recommender.forecasting.hierarchy import reconcile_fit, split_by_tier
from recommender.forecasting.panel import demand_panel
from recommender.forecasting.published import CURRENT_FILES, FILES, FORMAT_VERSION, SALES_FILE
from recommender.forecasting.selection import VALIDATION_WINDOWS, forecast_panel
from recommender.forecasting.spec import CURRENT_VALUES, SERIES_KEYS, VALUES, check_request
from recommender.forecasting.views import rounded, view
from recommender.loaders import Dataset, item_titles
from recommender.progress import heartbeat

SALES_PERIODS = 52  # the periods of sales published before the forecast


def _merchant_history(dataset: Dataset, panel) -> dict[str, dict]:
    """Every catalog merchant's sales history in the forecast's periods (merchants without sales included)."""
    catalog_items = dataset.catalog.merchant_id.astype(TEXT).value_counts()
    sold = pd.DataFrame({"merchant_id": panel.series.merchant_id.to_numpy(), "units": panel.values.sum(axis=1)})
    active = panel.values > 0  # every series of a panel sold in at least one period
    sold["first"] = active.argmax(axis=1)
    sold["last"] = panel.n_periods - 1 - active[:, ::-1].argmax(axis=1)
    per_merchant = sold.groupby("merchant_id").agg(items_sold=("units", "size"), units=("units", "sum"),
                                                   first=("first", "min"), last=("last", "max"))
    history = {}
    for merchant, items in catalog_items.sort_index().items():
        entry = {"catalog_items": int(items), "items_sold": 0, "units": 0.0, "first_sale_period": None,
                 "last_sale_period": None}
        if merchant in per_merchant.index:
            row = per_merchant.loc[merchant]
            entry.update(items_sold=int(row["items_sold"]), units=float(row["units"]),
                         first_sale_period=str(panel.starts[int(row["first"])].date()),
                         last_sale_period=str(panel.starts[int(row["last"])].date()))
        history[str(merchant)] = entry
    return history


def publish_forecasts(dataset: Dataset, out: str | os.PathLike, horizon: int | None = None, freq: str = "W",
                      sources: dict[str, str | os.PathLike] | None = None, show_progress: bool = False) -> dict:
    """Forecast every merchant at every level of :data:`FILES` and write the forecast directory
    ``out`` atomically (nothing is written when the forecast fails); returns the manifest.

    ``horizon`` defaults to the whole fitted horizon (:func:`~recommender.forecasting.selection.fit_horizon`:
    26 weeks when the history can calibrate them); ``sources`` (``{"purchases": path, "catalog":
    path}``) are fingerprinted in the manifest.
    """
    check_request(1 if horizon is None else horizon, freq, "item")
    start = time.perf_counter()
    panels = {level: demand_panel(dataset, freq, level) for level in ("item", "item,city_tier")}
    if horizon is not None:  # a clear error before any fitting
        validation_origins(panels["item"].n_periods, horizon, VALIDATION_WINDOWS, freq, panels["item"].lead)
    with heartbeat("forecast-publish") as stage:  # a log line every 30 s off a terminal, even without the bars
        stage(f"fitting {panels['item'].n_series:,} items")
        fitted = {"item": forecast_panel(panels["item"], show_progress=show_progress)}
        stage(f"splitting them into {panels['item,city_tier'].n_series:,} item x city tier series")
        fitted["item,city_tier"] = split_by_tier(fitted["item"], panels["item,city_tier"])
        stage("reconciling the merchants', categories', regions' and the market's totals with the items")
        reconciled = reconcile_fit(fitted["item"])
        stage("writing")
        manifest = _write(dataset, out, fitted, reconciled, panels, horizon, freq, sources, start)
    return manifest


def _write(dataset, out, fitted, reconciled, panels, horizon, freq, sources, start) -> dict:
    horizon = horizon or fitted["item"].horizon - panels["item"].lead
    by_level = {level: view(fitted["item" if level == "merchant" else level], level, horizon,
                            reconciled=reconciled if level == "merchant" else None) for level in FILES}
    tables = {level: forecast.table() for level, forecast in by_level.items()}
    current = {level: forecast.current_table() for level, forecast in by_level.items()}
    items = by_level["item"]
    seconds = time.perf_counter() - start
    sources = {name: str(path) for name, path in (sources or {}).items()}
    manifest = {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {**sources, "sha256": sha256_of(*sources.values()) if sources else None},
        "horizon": horizon,
        "freq": freq,
        "period_starts": [str(day) for day in items.starts.date],
        "history_periods": items.result.panel.n_periods,
        "current_period": None,
        "forecast_seconds": round(seconds, 1),
        "levels": {},
        "totals": {"method": reconciled.method, "coherent": True,
                   "what": "merchant totals: the items' mean forecasts and every total's own made coherent by "
                           "hierarchicalforecast (each total is the sum of its items' reconciled means, p10/p90 "
                           "from the reconciled validation errors); the item rows' p50 are medians, which do not "
                           "sum to the totals",
                   "validation_wape": {method: {level: round(float(v), 4) for level, v in row.items()}
                                       for method, row in reconciled.validation.iterrows()}},
        "merchants": _merchant_history(dataset, items.result.panel),
    }
    with atomic_directory(out) as tmp:
        sales = sales_table(items.result.panel)
        sales["title"] = sales.item_id.map(item_titles(dataset.catalog)).fillna(sales.item_id)
        pq.write_table(pa.Table.from_pandas(sales, preserve_index=False), tmp / SALES_FILE)
        manifest["sales"] = {"file": SALES_FILE, "rows": len(sales), "periods": SALES_PERIODS,
                             "sha256": sha256_of(tmp / SALES_FILE)}
        for level, name in FILES.items():
            table = rounded(tables[level][["merchant_id", *SERIES_KEYS.get(level, []), *VALUES]])
            pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp / name)
            series = len(table) // horizon
            manifest["levels"][level] = {"file": name, "rows": len(table), "series": series,
                                         "sha256": sha256_of(tmp / name)}
        if items.panel.current is not None:
            manifest["current_period"] = _write_current(current, tmp, items)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


def _write_current(tables: dict[str, pd.DataFrame], tmp, items) -> dict:
    """Write the current period's tables (:data:`CURRENT_FILES`) into ``tmp``; their manifest entry."""
    panel = items.panel
    entry = {"period_start": str(items.result.starts[0].date()), "days_observed": panel.current_days,
             "days": PERIOD_DAYS[panel.freq], "remaining_share": round(panel.remaining_share, 4), "levels": {}}
    for level, name in CURRENT_FILES.items():
        table = rounded(tables[level][["merchant_id", *SERIES_KEYS.get(level, []), *CURRENT_VALUES]])
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp / name)
        entry["levels"][level] = {"file": name, "rows": len(table), "sha256": sha256_of(tmp / name)}
    return entry


def sales_table(panel) -> pd.DataFrame:
    """Units sold per item and period (``merchant_id``, ``item_id``, ``period_start``, ``units``) over the
    panel's last :data:`SALES_PERIODS` periods, periods without sales included (zeros)."""
    values = panel.values[:, -SALES_PERIODS:]
    starts = panel.starts[-SALES_PERIODS:]
    n_series, n_periods = values.shape
    return pd.DataFrame({
        "merchant_id": np.repeat(panel.series.merchant_id.astype(str).to_numpy(), n_periods),
        "item_id": np.repeat(panel.series.item_id.astype(str).to_numpy(), n_periods),
        "period_start": np.tile(starts.date, n_series),
        "units": values.reshape(-1).astype(np.float64),
    })
