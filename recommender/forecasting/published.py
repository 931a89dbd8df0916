"""Published forecasts: every merchant's forecast computed once offline, read by the serving API.

``recommender forecast-publish`` (:func:`~recommender.forecasting.publish.publish_forecasts`) fits
the whole catalog once per level and writes a forecast directory atomically:

* ``item.parquet``, ``item_city_tier.parquet``, ``merchant.parquet``: the forecast tables of
  :data:`FILES` (``merchant_id``, [``item_id``], [``city_tier``], ``period_start``, ``p10``,
  ``p50``, ``p90`` and the explanations :data:`~recommender.forecasting.spec.EXPLAINED`; units
  rounded to 0.01);
* ``current_item.parquet``, ``current_item_city_tier.parquet``, ``current_merchant.parquet``
  (:data:`CURRENT_FILES`), only when the data stops inside a period: that current period per
  series, its units sold so far (``sold_so_far``) and P10/P50/P90 of the whole period (sales so
  far plus the forecast of its remaining days; the forecast tables start at the next period);
* ``sales.parquet``: units sold per item and period over the last
  :data:`~recommender.forecasting.publish.SALES_PERIODS` periods before the forecast (what the
  merchant page draws next to it), with the items' titles;
* ``manifest.json``: format version, creation time, the data files and their SHA-256, horizon,
  period length, period starts, row and series counts, the SHA-256 of every table, and a history
  summary of every catalog merchant (items, items sold, units, first and last period with sales),
  so a merchant without sales is told apart from an unknown one.

:meth:`PublishedForecasts.load` verifies the directory (format, checksums) and indexes the rows
by merchant, so :meth:`PublishedForecasts.rows` answers a request with a slice, no model fitting:
this module reads tables only, so the server needs no forecasting library (the ``[forecast]``
extra). A shorter horizon is the first periods of the published one, as for every view of a forecast.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from recommender.artifacts import MANIFEST, read_directory_manifest, sha256_of
from recommender.atomic import file_stamp
from recommender.forecasting.spec import CURRENT_VALUES, SERIES_KEYS, VALUES

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: rows carry the explanations (recent level, trend, rising); 3: whole periods, the current apart
FILES = {"item": "item.parquet", "item,city_tier": "item_city_tier.parquet", "merchant": "merchant.parquet"}
CURRENT_FILES = {level: f"current_{name}" for level, name in FILES.items()}  # the current period, when there is one
SALES_FILE = "sales.parquet"  # units sold per item and period before the forecast


class ForecastDirectoryError(ValueError):
    """A forecast directory is missing, incomplete, damaged or of an unknown format."""


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
    current_index: dict[str, dict[str, MerchantRows]] | None = None  # level -> merchant -> current period's rows

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

    def current(self, merchant_id: str, by: str) -> dict | None:
        """The current period of the merchant at level ``by`` (the data stops inside it): its start,
        days observed and in all, a label and one row per series (``sold_so_far``, P10/P50/P90 of
        the whole period, explanations); None when the data ended with a whole period."""
        period = self.manifest.get("current_period")
        found = None if self.current_index is None else self.current_index[by].get(merchant_id)
        if period is None or found is None:
            return None
        rest = period["days"] - period["days_observed"]
        names = list(found.columns)
        rows = [{name: value for name, value in zip(names, values) if value == value and name != "period_start"}
                for values in zip(*(column.tolist() for column in found.columns.values()))]
        return {"period_start": period["period_start"], "days_observed": period["days_observed"],
                "days": period["days"],
                "label": f"sales so far ({period['days_observed']} of {period['days']} days) plus the forecast of "
                         f"the remaining {rest} day{'s' if rest != 1 else ''}",
                "rows": rows}

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
            index[level] = _index_by_merchant(_verified(path, entry).to_pandas(), level, int(manifest["horizon"]))
        current = None
        if manifest.get("current_period"):
            current = {level: _index_by_merchant(_verified(path, entry).to_pandas(), level, 1, CURRENT_VALUES)
                       for level, entry in manifest["current_period"]["levels"].items()}
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
        return cls(str(path), manifest, index, stamp, sold, titles, current)

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


def _verified(path: Path, entry: dict):
    """The table of a manifest entry (``file``, ``sha256``), checked against its checksum."""
    file = path / entry["file"]
    if not file.is_file():
        raise ForecastDirectoryError(f"{file}: missing")
    if sha256_of(file) != entry["sha256"]:
        raise ForecastDirectoryError(f"{file}: checksum does not match the manifest (damaged or modified)")
    return pq.read_table(file)


def _index_by_merchant(table: pd.DataFrame, level: str, horizon: int,
                       values: list[str] = VALUES) -> dict[str, MerchantRows]:
    """Each merchant's rows, period-major, as column arrays (sliced and turned into response rows per request)."""
    keys = SERIES_KEYS.get(level, [])
    table = table.sort_values(["merchant_id", "period_start", *keys], kind="stable")
    labels, starts, counts = np.unique(table.merchant_id.to_numpy().astype(str), return_index=True,
                                       return_counts=True)
    columns = {name: table[name].to_numpy() for name in [*keys, *values]}
    return {str(label): MerchantRows(count // horizon, {name: values[start:start + count]
                                                        for name, values in columns.items()})
            for label, start, count in zip(labels, starts.tolist(), counts.tolist())}
