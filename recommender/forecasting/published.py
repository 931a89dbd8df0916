"""Published forecasts: every merchant's forecast computed once offline, read by the serving API.

``recommender forecast-publish`` calls :func:`publish_forecasts`, which fits the whole catalog
once per level (:func:`~recommender.forecasting.selection.forecast_panel`, items and items x
tiers; merchant totals are the item fit's totals, exactly as ``recommender forecast --by
merchant``) and writes a forecast directory atomically:

* ``item.parquet``, ``item_city_tier.parquet``, ``merchant.parquet``: the forecast tables of
  :data:`FILES` (``merchant_id``, [``item_id``], [``city_tier``], ``period_start``, ``p10``,
  ``p50``, ``p90`` and the explanations :data:`~recommender.forecasting.views.EXPLAINED`; units
  rounded to 0.01);
* ``sales.parquet``: units sold per item and period over the last :data:`SALES_PERIODS` periods
  before the forecast (what the merchant page draws next to it), with the items' titles;
* ``manifest.json``: format version, creation time, the data files and their SHA-256, horizon,
  period length, period starts, row and series counts, the SHA-256 of every table, and a history
  summary of every catalog merchant (items, items sold, units, first and last period with sales),
  so a merchant without sales is told apart from an unknown one.

:meth:`PublishedForecasts.load` verifies the directory (format, checksums) and indexes the rows
by merchant, so :meth:`PublishedForecasts.rows` answers a request with a slice, no model fitting.
A shorter horizon is the first periods of the published one, as for every view of a forecast.
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

from recommender.artifacts import MANIFEST, read_directory_manifest, sha256_of
from recommender.atomic import atomic_directory, file_stamp
from recommender.columns import TEXT
from recommender.forecasting.calibration import validation_origins
from recommender.forecasting.panel import demand_panel
from recommender.forecasting.selection import VALIDATION_WINDOWS, forecast_panel
from recommender.forecasting.views import SERIES_KEYS, VALUES, check_request, rounded, view
from recommender.loaders import Dataset, item_titles

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: rows carry the explanations (recent level, trend, rising)
FILES = {"item": "item.parquet", "item,city_tier": "item_city_tier.parquet", "merchant": "merchant.parquet"}
SALES_FILE = "sales.parquet"  # units sold per item and period, the last SALES_PERIODS periods before the forecast
SALES_PERIODS = 52


class ForecastDirectoryError(ValueError):
    """A forecast directory is missing, incomplete, damaged or of an unknown format."""


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
        validation_origins(panels["item"].n_periods, horizon, VALIDATION_WINDOWS, freq)
    fitted = {level: forecast_panel(panel, show_progress=show_progress) for level, panel in panels.items()}
    horizon = horizon or fitted["item"].horizon
    items, tiers = (view(fitted[level], level, horizon) for level in ("item", "item,city_tier"))
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
        "period_starts": [str(day) for day in items.starts.date],
        "history_periods": items.result.panel.n_periods,
        "forecast_seconds": round(seconds, 1),
        "levels": {},
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
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


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
    sold: dict[str, list[dict]] | None = None  # merchant_id -> units sold per item and period (None: not published)
    titles: dict[str, dict[str, str]] | None = None  # merchant_id -> item_id -> title (None: published without)

    @property
    def horizon(self) -> int:
        return int(self.manifest["horizon"])

    @property
    def freq(self) -> str:
        return str(self.manifest["freq"])

    def history(self, merchant_id: str) -> dict | None:
        """The merchant's sales history summary; ``None`` for a merchant not in the published catalog."""
        return self.manifest["merchants"].get(merchant_id)

    def sales(self, merchant_id: str) -> list[dict] | None:
        """The merchant's units sold per item and period before the forecast (``item_id``,
        ``period_start``, ``units``); None for a merchant without sales, or forecasts published
        before sales were (publish again)."""
        return None if self.sold is None else self.sold.get(merchant_id)

    def item_titles(self, merchant_id: str) -> dict[str, str] | None:
        """The titles of the merchant's forecast items by item id (None: unknown merchant, or
        forecasts published before titles were)."""
        return None if self.titles is None else self.titles.get(merchant_id)

    def rows(self, merchant_id: str, by: str, horizon: int) -> list[dict] | None:
        """The merchant's forecast rows at level ``by`` for the first ``horizon`` periods
        (``None`` when the merchant has no forecast: unknown, or no sales); a missing value (a
        trend with no sales before) is left out of its row."""
        found = self.index[by].get(merchant_id)
        if found is None:
            return None
        n = found.n_series * horizon
        names = list(found.columns)
        return [{name: value for name, value in zip(names, values) if value == value}  # NaN (no trend): omitted
                for values in zip(*(column[:n].tolist() for column in found.columns.values()))]

    @classmethod
    def load(cls, path: str | os.PathLike) -> PublishedForecasts:
        """Read and verify a forecast directory (raises :class:`ForecastDirectoryError`) and index it."""
        path = Path(path)
        manifest_path = path / MANIFEST
        stamp = file_stamp(manifest_path) if manifest_path.is_file() else None
        manifest = read_directory_manifest(path, "forecast", FORMAT_VERSION, ("horizon", "freq", "levels", "merchants"),
                                           ForecastDirectoryError, "publish with `recommender forecast-publish`")
        if set(manifest["levels"]) != set(FILES):
            raise ForecastDirectoryError(f"{manifest_path}: levels {sorted(manifest['levels'])} are not "
                                         f"{sorted(FILES)}; publish with `recommender forecast-publish`")
        index = {}
        for level, entry in manifest["levels"].items():
            file = path / entry["file"]
            if not file.is_file():
                raise ForecastDirectoryError(f"{file}: missing")
            if sha256_of(file) != entry["sha256"]:
                raise ForecastDirectoryError(f"{file}: checksum does not match the manifest (damaged or modified)")
            index[level] = _index_by_merchant(pq.read_table(file).to_pandas(), level, int(manifest["horizon"]))
        sold = titles = None
        if "sales" in manifest:
            file = path / manifest["sales"]["file"]
            if not file.is_file() or sha256_of(file) != manifest["sales"]["sha256"]:
                raise ForecastDirectoryError(f"{file}: missing, or its checksum does not match the manifest")
            table = pq.read_table(file).to_pandas()
            table["period_start"] = table.period_start.astype(str)
            sold = {str(merchant): rows[["item_id", "period_start", "units"]].to_dict("records")
                    for merchant, rows in table.groupby("merchant_id", sort=False)}
            if "title" in table:
                firsts = table.drop_duplicates("item_id")
                titles = {str(merchant): dict(zip(rows.item_id, rows.title))
                          for merchant, rows in firsts.groupby("merchant_id", sort=False)}
        return cls(str(path), manifest, index, stamp, sold, titles)

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
    keys = SERIES_KEYS.get(level, [])
    table = table.sort_values(["merchant_id", "period_start", *keys], kind="stable")
    labels, starts, counts = np.unique(table.merchant_id.to_numpy().astype(str), return_index=True,
                                       return_counts=True)
    columns = {name: table[name].to_numpy() for name in [*keys, *VALUES]}
    return {str(label): MerchantRows(count // horizon, {name: values[start:start + count]
                                                        for name, values in columns.items()})
            for label, start, count in zip(labels, starts.tolist(), counts.tolist())}
