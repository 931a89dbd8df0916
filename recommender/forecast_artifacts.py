"""Published forecasts: every merchant's forecast computed once offline, read by the serving API.

``recommender forecast-publish`` calls :func:`publish_forecasts`, which forecasts the whole
catalog at the longest horizon with :func:`recommender.forecasting.forecast` (items and tiers
fitted once each; merchant totals are the item forecast's bottom-up totals, exactly as
``recommender forecast --by merchant``) and writes a forecast directory atomically:

* ``item.parquet``, ``item_city_tier.parquet``, ``merchant.parquet``: the forecast tables of
  :data:`LEVELS` (``merchant_id``, [``item_id``], [``city_tier``], ``period_start``, ``p10``,
  ``p50``, ``p90``, ``model``; units rounded to 0.01);
* ``manifest.json``: format version, creation time, the data files and their SHA-256, horizon,
  period length, period starts, row and series counts, the SHA-256 of every table, and a history
  summary of every catalog merchant (items, items sold, units, first and last period with sales),
  so a merchant without sales is told apart from an unknown one.

:meth:`PublishedForecasts.load` verifies the directory (format, checksums) and indexes the rows
by merchant, so :meth:`PublishedForecasts.rows` answers a request with a slice, no model fitting.
A shorter horizon is the first periods of the published one (its methods were selected and its
bands calibrated for the published horizon).
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recommender.artifacts import sha256_of
from recommender.atomic import atomic_directory, file_stamp
from recommender.forecasting import MAX_HORIZON, forecast
from recommender.loaders import Dataset

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LEVELS = {"item": "item.parquet", "item,city_tier": "item_city_tier.parquet", "merchant": "merchant.parquet"}
KEYS = {"item": ["item_id"], "item,city_tier": ["item_id", "city_tier"], "merchant": []}
VALUES = ["period_start", "p10", "p50", "p90", "model"]


class ForecastDirectoryError(ValueError):
    """A forecast directory is missing, incomplete, damaged or of an unknown format."""


def _merchant_history(dataset: Dataset, panel) -> dict[str, dict]:
    """Every catalog merchant's sales history in the forecast's periods (merchants without sales included)."""
    catalog_items = dataset.catalog.merchant_id.astype("str").value_counts()
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
    """Forecast every merchant at every level of :data:`LEVELS` and write the forecast directory
    ``out`` atomically (nothing is written when the forecast fails); returns the manifest.

    ``horizon`` defaults to the longest the library serves (:data:`~recommender.forecasting.MAX_HORIZON`);
    ``sources`` (``{"purchases": path, "catalog": path}``) are fingerprinted in the manifest.
    """
    horizon = MAX_HORIZON.get(freq, 0) if horizon is None else horizon
    start = time.perf_counter()
    items = forecast(dataset, horizon, freq, "item", show_progress=show_progress)
    tiers = forecast(dataset, horizon, freq, "item,city_tier", show_progress=show_progress)
    tables = {"item": items.series_table(), "item,city_tier": tiers.series_table(),
              "merchant": items.totals_table("merchant_id")}
    seconds = time.perf_counter() - start
    sources = {name: str(path) for name, path in (sources or {}).items()}
    manifest = {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": {**sources, "sha256": sha256_of(*sources.values()) if sources else None},
        "horizon": horizon,
        "freq": freq,
        "period_starts": [str(day) for day in items.result.starts.date],
        "history_periods": items.result.panel.n_periods,
        "forecast_seconds": round(seconds, 1),
        "levels": {},
        "merchants": _merchant_history(dataset, items.result.panel),
    }
    with atomic_directory(out) as tmp:
        for level, name in LEVELS.items():
            table = tables[level][["merchant_id", *KEYS[level], *VALUES]].round({"p10": 2, "p50": 2, "p90": 2})
            pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp / name)
            series = len(table) // horizon
            manifest["levels"][level] = {"file": name, "rows": len(table), "series": series,
                                         "sha256": sha256_of(tmp / name)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


@dataclass
class MerchantRows:
    """One merchant's rows at one level, ordered by period then series: the first ``n_series * h``
    rows are the forecast for horizon ``h``."""

    n_series: int
    columns: dict[str, np.ndarray]


@dataclass
class PublishedForecasts:
    """A verified forecast directory, indexed by merchant for serving."""

    path: str
    manifest: dict
    index: dict[str, dict[str, MerchantRows]]  # level -> merchant_id -> rows
    stamp: tuple[int, int, int]  # of the manifest read (publishing replaces the directory, manifest included)

    @property
    def horizon(self) -> int:
        return int(self.manifest["horizon"])

    @property
    def freq(self) -> str:
        return str(self.manifest["freq"])

    def history(self, merchant_id: str) -> dict | None:
        """The merchant's sales history summary; ``None`` for a merchant not in the published catalog."""
        return self.manifest["merchants"].get(merchant_id)

    def rows(self, merchant_id: str, by: str, horizon: int) -> list[dict] | None:
        """The merchant's forecast rows at level ``by`` for the first ``horizon`` periods
        (``None`` when the merchant has no forecast: unknown, or no sales)."""
        found = self.index[by].get(merchant_id)
        if found is None:
            return None
        n = found.n_series * horizon
        names = list(found.columns)
        return [dict(zip(names, values)) for values in zip(*(column[:n].tolist() for column in found.columns.values()))]

    @classmethod
    def load(cls, path: str | os.PathLike) -> PublishedForecasts:
        """Read and verify a forecast directory (raises :class:`ForecastDirectoryError`) and index it."""
        path = Path(path)
        manifest_path = path / MANIFEST
        stamp = file_stamp(manifest_path) if manifest_path.is_file() else None
        if stamp is None:
            raise ForecastDirectoryError(f"{path}: not a forecast directory ({MANIFEST} is missing); "
                                         f"write one with `recommender forecast-publish`")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ForecastDirectoryError(f"{manifest_path}: not valid JSON ({exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            raise ForecastDirectoryError(f"{manifest_path}: not a forecast manifest of format {FORMAT_VERSION}; "
                                         f"publish the forecasts again")
        missing = [field for field in ("horizon", "freq", "levels", "merchants") if field not in manifest]
        if missing or set(manifest["levels"]) != set(LEVELS):
            raise ForecastDirectoryError(f"{manifest_path}: incomplete manifest (missing {missing or 'levels'})")
        index = {}
        for level, entry in manifest["levels"].items():
            file = path / entry["file"]
            if not file.is_file():
                raise ForecastDirectoryError(f"{file}: missing")
            if sha256_of(file) != entry["sha256"]:
                raise ForecastDirectoryError(f"{file}: checksum does not match the manifest (damaged or modified)")
            index[level] = _index_by_merchant(pq.read_table(file).to_pandas(), level, int(manifest["horizon"]))
        return cls(str(path), manifest, index, stamp)

    def refreshed(self) -> PublishedForecasts:
        """This object, or the forecasts published since at the same path (``recommender
        forecast-publish`` replaces the directory atomically). While the directory is being
        replaced, and when the new one fails to load (logged once), these forecasts are kept.
        Reads files: call it off the event loop."""
        try:
            stamp = file_stamp(Path(self.path) / MANIFEST)
        except FileNotFoundError:
            return self
        if stamp == self.stamp:
            return self
        try:
            fresh = PublishedForecasts.load(self.path)
        except (OSError, ForecastDirectoryError) as exc:
            log.warning("forecasts in %s not re-read, still serving those published at %s: %s", self.path,
                        self.manifest.get("created_at"), exc)
            return replace(self, stamp=stamp)  # not retried until the directory changes again
        log.info("forecasts republished in %s at %s: now served", self.path, fresh.manifest.get("created_at"))
        return fresh


def _index_by_merchant(table: pd.DataFrame, level: str, horizon: int) -> dict[str, MerchantRows]:
    """Each merchant's rows, period-major, as column arrays (sliced and turned into response rows per request)."""
    keys = KEYS[level]
    table = table.sort_values(["merchant_id", "period_start", *keys], kind="stable")
    labels, starts, counts = np.unique(table.merchant_id.to_numpy().astype(str), return_index=True,
                                       return_counts=True)
    columns = {name: table[name].to_numpy() for name in [*keys, *VALUES]}
    return {str(label): MerchantRows(count // horizon, {name: values[start:start + count]
                                                        for name, values in columns.items()})
            for label, start, count in zip(labels, starts.tolist(), counts.tolist())}
