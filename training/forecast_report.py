"""Per-merchant forecast reports, written for the merchant: one self-contained HTML page per merchant, and an index.

``write_forecast_report(items, tiers, out_dir, catalog)`` takes the views of one forecast by item and
one by item x city tier (:func:`recommender.forecasting.views.forecast`) and the catalog (for the items'
titles), and writes, atomically,

* ``out_dir/index.html``: every merchant with the units it can expect per week, the same weeks'
  sales last year, and its rising and falling city tiers, linking to
* ``out_dir/merchant-<id>.html``: one merchant's page. At the top, in plain words: the units
  expected per week (or day) over the forecast, against the same weeks last year (or a plain note
  when the sales history does not reach back that far) and the last weeks; which items and city
  tiers are rising or falling. Then three charts at the page's full width, each above its table:
  the merchant's total (the last year of sales, the forecast with its P10-P90 band, and last
  year's sales in the forecast weeks), its best-selling items by title, and its demand per city
  tier. The item table names every item by title and id, with the forecast method chosen for it.

Rising and falling are the forecast tables' notion (:data:`~recommender.forecasting.views.RISING`):
the last :data:`~recommender.forecasting.panel.RECENT` periods' sales against as many before, at
least 10% up (rising) or down (falling).

The merchant's total and its items are the item forecast's, exactly as ``recommender forecast``
and the API publish them (:meth:`~recommender.forecasting.views.Forecast.totals_table`); the
tiers are the item x tier forecast's totals per merchant and tier. Charts are matplotlib PNGs,
embedded, drawn as in :mod:`training.report`.
"""
from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from recommender.atomic import atomic_directory
from recommender.columns import TEXT
from recommender.forecasting.panel import RECENT
from recommender.forecasting.selection import SELECTED, aggregate
from recommender.forecasting.views import RISING, Forecast, recent_trend
from recommender.loaders import item_titles
from recommender.progress import progress_bar
from training.report import (
    STYLE,
    chart_figure,
    embedded_chart,
    legend_below,
    png,
    shorten,
)

INDEX_FILE = "index.html"
HISTORY_PERIODS = {"W": 52, "D": 120}  # history drawn before the forecast
YEAR_BACK = {"W": 52, "D": 364}  # periods from a period to the same one last year (days: the same weekday)
UNIT = {"W": "week", "D": "day"}
FALLING = -RISING
TOP_ITEMS = 5  # items drawn; the table lists them all
SUMMARY_ITEMS = 5  # rising (falling) items named at the top of the page; the table flags them all
TIER_NAMES = {0: "unknown tier"}
REPORT_JOBS = 2  # with many merchants, pages are drawn in two processes (starting them costs seconds)
PARALLEL_FROM = 20
COLOURS = ("#c0392b", "#2e6da4", "#27ae60", "#8e44ad", "#d35400", "#7f8c8d")
LAST_YEAR_COLOUR = "#555555"
CHART_HEIGHT_PX = 400
LEGEND_ROW_PX = 24


def merchant_file(merchant_id: str) -> str:
    """The page name of a merchant (ids made safe for file names)."""
    return "merchant-" + re.sub(r"[^A-Za-z0-9._-]+", "_", merchant_id) + ".html"


@dataclass
class Demand:
    """One line of a merchant's report (its total, an item or a city tier): sales so far and forecast."""

    name: str  # what the reader sees: "all items", an item's title, "tier 2"
    key: str  # the item id or tier name ("" for the total)
    history: np.ndarray  # units sold per period, the whole history
    quantiles: np.ndarray  # P10, P50, P90 per forecast period (horizon x 3)
    freq: str
    method: str = ""  # items: the forecast method chosen

    @property
    def label(self) -> str:
        """The name, with the item id when it differs (titles can repeat within a merchant)."""
        return self.name if self.key in ("", self.name) else f"{self.name} ({self.key})"

    @property
    def horizon(self) -> int:
        return len(self.quantiles)

    @property
    def expected(self) -> float:
        """P50 units per period over the forecast."""
        return float(self.quantiles[:, 1].mean())

    @property
    def typical_range(self) -> tuple[float, float]:
        """The mean P10 and mean P90 per period: a typical period's band."""
        return float(self.quantiles[:, 0].mean()), float(self.quantiles[:, 2].mean())

    @property
    def last(self) -> float:
        """Units per period over the last ``horizon`` periods of history."""
        return float(self.history[-self.horizon:].mean())

    def year_ago_units(self) -> np.ndarray | None:
        """Units sold in each forecast period's same period a year earlier (None: the history is shorter)."""
        start = len(self.history) - YEAR_BACK[self.freq]
        return None if start < 0 else self.history[start:start + self.horizon]

    @property
    def year_ago(self) -> float | None:
        """Units per period in the forecast's same periods last year (None: the history is shorter)."""
        units = self.year_ago_units()
        return None if units is None else float(units.mean())

    @property
    def trend(self) -> float:
        """The last :data:`RECENT` periods' sales against as many before (+0.25: a quarter more; NaN:
        nothing sold before)."""
        return float(recent_trend(self.history[None, :], self.freq)[2][0])

    @property
    def direction(self) -> str:
        """``rising``, ``falling``, ``steady``, ``new`` (sales only lately) or ``no recent sales``."""
        trend = self.trend
        if np.isnan(trend):
            return "new" if self.history[-RECENT[self.freq]:].sum() > 0 else "no recent sales"
        return "rising" if trend >= RISING else "falling" if trend <= FALLING else "steady"


@dataclass
class MerchantDemand:
    """Everything on one merchant's page: its total, items (best-selling first) and city tiers."""

    merchant: str
    total: Demand
    items: list[Demand]
    tiers: list[Demand]
    starts: pd.DatetimeIndex  # history period starts
    future: pd.DatetimeIndex  # forecast period starts

    @property
    def freq(self) -> str:
        return self.total.freq


# --- words --------------------------------------------------------------------------------------------

def units(value: float) -> str:
    """Units as a reader wants them: whole numbers from 10 (and 0), one decimal below."""
    return f"{value:,.0f}" if value >= 10 or value == 0 else f"{value:.1f}"


def percent(value: float) -> str:
    """A signed whole percentage with a true minus sign: "+36%", "\u221212%"."""
    return f"{value:+.0%}".replace("-", "\u2212")


def more_or_less(change: float) -> str:
    """A relative change in words: "36% more", "10% less", "the same" (under half a percent)."""
    if abs(change) < 0.005:
        return "the same"
    return f"{abs(change):.0%} {'more' if change > 0 else 'less'}"


def units_last_year(line: Demand) -> str:
    """The units per period in the same periods last year ("" without those periods)."""
    year_ago = line.year_ago
    return "" if year_ago is None else units(year_ago)


def against_last_year(line: Demand) -> str:
    """The forecast's change on the same periods last year ("" without those periods)."""
    year_ago = line.year_ago
    if year_ago is None:
        return ""
    return percent(line.expected / year_ago - 1) if year_ago > 0 else "none sold then"


def flag(line: Demand) -> str:
    """The direction as a table cell: rising and falling stand out, with the trend."""
    direction = line.direction
    if direction in ("rising", "falling"):
        return f"<b class='{direction}'>{direction}</b> ({percent(line.trend)})"
    return direction


def with_trend(line: Demand) -> str:
    """The line's label and trend, for a sentence: "Rising tea (UP-1) +300%"."""
    return f"{html.escape(line.label)} {percent(line.trend)}"


def moving_sentence(m: MerchantDemand, direction: str) -> str:
    """Which city tiers and items are ``direction`` (rising or falling), the first few items named."""
    tiers = [with_trend(line) for line in m.tiers if line.direction == direction]
    items = [with_trend(line) for line in m.items if line.direction == direction]
    more = len(items) - SUMMARY_ITEMS
    named = ", ".join(items[:SUMMARY_ITEMS]) + (f" and {more} more (see the table)" if more > 0 else "")
    return (f"<p><b class='{direction}'>{direction.capitalize()}</b>: city tiers {', '.join(tiers) or 'none'}; "
            f"items {named or 'none'}.</p>")


def summary(m: MerchantDemand) -> str:
    """The page's opening paragraphs: what to expect, against last year and lately, what moves."""
    total, unit, h = m.total, UNIT[m.freq], m.total.horizon
    low, high = total.typical_range
    expected = (f"<p class='lead'>Next {h} {unit}s (from {m.future[0]:%d %b %Y}): <b class='expected'>about "
                f"{units(total.expected)} units a {unit}</b> ({units(total.expected * h)} in all; a typical {unit} "
                f"between {units(low)} and {units(high)}).</p>")
    if total.year_ago is None:
        year = (f"Same {unit}s last year: <b>not in the sales history</b>, which starts on {m.starts[0]:%d %b %Y}, "
                f"less than a year before these {unit}s.")
    elif total.year_ago == 0:
        year = f"Same {h} {unit}s last year: <b class='year-ago'>none sold</b>."
    else:
        year = (f"Same {h} {unit}s last year: <b class='year-ago'>{units(total.year_ago)} a {unit}</b>; the "
                f"forecast is {more_or_less(total.expected / total.year_ago - 1)}.")
    return (f"{expected}<p>{year} Last {h} {unit}s: {units(total.last)} a {unit}.</p>"
            f"{moving_sentence(m, 'rising')}{moving_sentence(m, 'falling')}")


def direction_note(freq: str) -> str:
    n, unit = RECENT[freq], UNIT[freq]
    return (f"<p class='small'>Rising or falling: sales of the last {n} {unit}s against the {n} {unit}s before, "
            f"at least {RISING:.0%} more (rising) or less (falling). New: sold only in the last {n} {unit}s. "
            f"Expected: the forecast's middle (P50); 8 {unit}s in 10 should fall in the band.</p>")


CELL_CLASSES = {"number": "", "text": " class='name'", "label": " class='name nowrap'"}


def html_table(columns: list[tuple[str, str]], rows: list[list[str]]) -> str:
    """A table of ``columns`` (header, kind: ``number``, ``text`` or ``label``, a short text kept on one
    line) and ``rows`` of cells (HTML), the first cell of a row naming it."""
    classes = [CELL_CLASSES[kind] for _, kind in columns]
    head = "".join(f"<th{css}>{html.escape(header)}</th>" for (header, _), css in zip(columns, classes))
    tags = ["th"] + ["td"] * (len(columns) - 1)
    body = "".join("<tr>" + "".join(f"<{tag}{css}>{cell}</{tag}>" for tag, css, cell in zip(tags, classes, row))
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def demand_table(m: MerchantDemand, lines: list[Demand], first_header: str, items: bool) -> str:
    """One row per line: expected, last periods, same periods last year, direction (items: id and method)."""
    freq, h = m.freq, m.total.horizon
    unit = UNIT[freq]
    with_year = m.total.year_ago is not None
    columns = [(first_header, "text")] + ([("item id", "label")] if items else []) + [
        (f"expected per {unit}, next {h}", "number"), (f"per {unit}, last {h}", "number")] + (
        [(f"per {unit}, same {unit}s last year", "number"), ("against last year", "number")] if with_year else []) + [
        (f"last {RECENT[freq]} {unit}s", "label")] + ([("forecast method", "label")] if items else [])
    rows = []
    for line in lines:
        cells = [html.escape(line.name)] + ([html.escape(line.key)] if items else [])
        cells += [units(line.expected), units(line.last)]
        if with_year:
            cells += [units_last_year(line), against_last_year(line)]
        cells.append(flag(line))
        if items:
            cells.append(f"<span class='small'>{html.escape(line.method)}</span>")
        rows.append(cells)
    return html_table(columns, rows)


# --- charts -------------------------------------------------------------------------------------------

def demand_chart(m: MerchantDemand, lines: list[Demand], title: str, band: bool = False,
                 last_year: bool = False):
    """The last year of sales (solid) and the forecast P50 (dashed) of ``lines``, at the page's full
    width; with ``band``, the P10-P90 band; with ``last_year``, the same periods' sales a year before
    the forecast (dotted). Legend below the plot (figure)."""
    fig = chart_figure(CHART_HEIGHT_PX, constrained=False)  # laid out below: hundreds of pages draw faster
    ax = fig.add_subplot()
    keep = len(m.starts)
    for k, line in enumerate(lines):
        colour = COLOURS[k % len(COLOURS)]
        ax.plot(m.starts, line.history[-keep:], color=colour, linewidth=1.4, label=shorten(line.label, 48))
        ax.plot(m.future, line.quantiles[:, 1], color=colour, linewidth=2.0, linestyle="--")
        if band:
            ax.fill_between(m.future, line.quantiles[:, 0], line.quantiles[:, 2], color=colour, alpha=0.2,
                            linewidth=0, label="forecast P10-P90")
    year_ago = m.total.year_ago_units()
    if last_year and year_ago is not None:
        ax.plot(m.future, year_ago, color=LAST_YEAR_COLOUR, linewidth=1.6, linestyle=":",
                label=f"same {UNIT[m.freq]}s last year")
    ax.plot([], [], color="black", linestyle="--", label="forecast (P50)")
    ax.axvline(m.future[0], color="black", linewidth=0.8, alpha=0.4)
    ax.set_title(title, loc="left")
    ax.set_ylabel(f"units per {UNIT[m.freq]}")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    rows = legend_below(fig, ax)
    width, height = fig.bbox.width, fig.bbox.height
    fig.subplots_adjust(left=80 / width, right=1 - 16 / width, top=1 - 32 / height,
                        bottom=(44 + LEGEND_ROW_PX * rows) / height)
    return fig


def merchant_charts(m: MerchantDemand) -> list[tuple[object, str]]:
    """The page's three charts (figures) with their alt texts: total, top items, city tiers."""
    top = m.items[:TOP_ITEMS]
    return [
        (demand_chart(m, [m.total], f"All items: units sold and expected per {UNIT[m.freq]}", band=True,
                      last_year=True),
         "units sold per period, forecast and band, all items"),
        (demand_chart(m, top, f"The {len(top)} items with the most expected sales"), "top items"),
        (demand_chart(m, m.tiers, "Demand per city tier"), "city tiers"),
    ]


# --- pages --------------------------------------------------------------------------------------------

def merchant_page(m: MerchantDemand) -> str:
    """One merchant's report page (HTML string, charts embedded)."""
    unit = UNIT[m.freq]
    total_chart, items_chart, tiers_chart = (embedded_chart(png(fig), alt) for fig, alt in merchant_charts(m))
    title = html.escape(m.merchant)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Forecast: {title}</title>"
            f"<style>{STYLE}</style></head><body><p><a href='{INDEX_FILE}'>all merchants</a></p>"
            f"<h1>What {title} can expect to sell</h1>{summary(m)}{total_chart}"
            f"<p class='small'>Solid: units sold per {unit}. Dashed: the forecast. Shaded: the range 8 {unit}s in "
            f"10 should fall in. Dotted: the same {unit}s last year.</p>"
            f"<h2>Items</h2>{items_chart}{demand_table(m, m.items, 'item', items=True)}"
            f"<h2>City tiers</h2>{tiers_chart}{demand_table(m, m.tiers, 'city tier', items=False)}"
            f"{direction_note(m.freq)}</body></html>")


def index_page(merchants: list[MerchantDemand]) -> str:
    """Every merchant: expected per period, the same periods last year, rising and falling tiers."""
    first = merchants[0]
    unit, h = UNIT[first.freq], first.total.horizon
    with_year = first.total.year_ago is not None
    columns = [("merchant", "text"), (f"expected per {unit}", "number")] + (
        [(f"per {unit}, same {unit}s last year", "number"), ("against last year", "number")] if with_year else []) + [
        (f"per {unit}, last {h}", "number"), ("rising city tiers", "label"), ("falling city tiers", "label")]
    rows = []
    for m in merchants:
        year = [units_last_year(m.total), against_last_year(m.total)] if with_year else []
        tiers = [html.escape(", ".join(line.name for line in m.tiers if line.direction == direction))
                 for direction in ("rising", "falling")]
        rows.append([f"<a href='{merchant_file(m.merchant)}'>{html.escape(m.merchant)}</a>", units(m.total.expected),
                     *year, units(m.total.last), *tiers])
    year_note = ("" if with_year else f" The sales history starts on {first.starts[0]:%d %b %Y}: less than a year "
                 f"before these {unit}s, so there is no comparison with last year.")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Demand forecasts</title>"
            f"<style>{STYLE}</style></head><body><h1>What each merchant can expect to sell</h1>"
            f"<p>{len(merchants)} merchant{'s' if len(merchants) != 1 else ''}; the next {h} {unit}s from "
            f"{first.future[0]:%d %b %Y}.{year_note}</p>"
            f"{html_table(columns, rows)}{direction_note(first.freq)}</body></html>")


# --- the job ------------------------------------------------------------------------------------------

def _totals(forecast: Forecast, groups: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per group label: (history of units over all periods, forecast quantiles ``horizon x 3``), the
    view's reconciled totals when it has them (as published), else the totals of its fit
    (:func:`~recommender.forecasting.selection.aggregate`)."""
    labels, quantiles, history = (aggregate(forecast.result, groups) if forecast.reconciled is None
                                  else forecast.reconciled.totals(groups))
    whole = slice(forecast.lead, forecast.lead + forecast.horizon)  # the whole periods after the data
    return {label: (history[k], quantiles[k, whole]) for k, label in enumerate(labels)}


def merchant_demands(items: Forecast, tiers: Forecast, titles: dict[str, str]) -> list[MerchantDemand]:
    """Each merchant's total, items (best-selling first, named by ``titles``) and tiers, by merchant id."""
    panel, h = items.panel, items.horizon
    freq, series = panel.freq, panel.series
    quantiles = items.result.quantiles[SELECTED][:, items.lead:items.lead + h]
    own_items: dict[str, list[Demand]] = {}
    for k, (item, merchant) in enumerate(zip(series.item_id, series.merchant_id)):
        if items.merchant_id in (None, merchant):
            own_items.setdefault(merchant, []).append(
                Demand(titles.get(item, item), item, panel.values[k], quantiles[k], freq, str(items.result.model[k])))
    tier_series = tiers.panel.series
    tier_keys = tier_series.merchant_id + "\x1f" + tier_series.city_tier.astype(int).astype(TEXT)
    own_tiers: dict[str, list[Demand]] = {}
    for key, (history, tier_quantiles) in sorted(_totals(tiers, tier_keys.to_numpy()).items()):
        merchant, tier = key.split("\x1f")
        name = TIER_NAMES.get(int(tier), f"tier {tier}")
        own_tiers.setdefault(merchant, []).append(Demand(name, name, history, tier_quantiles, freq))
    keep = min(HISTORY_PERIODS[freq], panel.n_periods)
    totals = _totals(items, series.merchant_id.to_numpy())
    return [MerchantDemand(merchant, Demand("all items", "", *totals[merchant], freq),
                           sorted(lines, key=lambda line: -line.expected), own_tiers.get(merchant, []),
                           panel.starts[-keep:], items.starts)
            for merchant, lines in sorted(own_items.items())]


def write_forecast_report(items: Forecast, tiers: Forecast, out_dir: str | os.PathLike,
                          catalog: pd.DataFrame | None = None, show_progress: bool = False) -> Path:
    """Write the index and one page per merchant of the views into ``out_dir`` (replaced
    atomically); ``items`` is a view by item, ``tiers`` by item x city tier, ``catalog`` names the
    items by title (without it, by id); returns the index."""
    if items.by != "item" or tiers.by != "item,city_tier":
        raise ValueError("the report needs a forecast by item and one by item,city_tier")
    merchants = merchant_demands(items, tiers, item_titles(catalog) if catalog is not None else {})
    progress = progress_bar(merchants, disable=not show_progress, unit="merchant", desc="report")
    pages = Parallel(n_jobs=REPORT_JOBS if len(merchants) >= PARALLEL_FROM else 1)(
        delayed(merchant_page)(m) for m in progress)
    with atomic_directory(out_dir) as tmp:
        for m, page in zip(merchants, pages):
            (tmp / merchant_file(m.merchant)).write_text(page, encoding="utf-8")
        (tmp / INDEX_FILE).write_text(index_page(merchants), encoding="utf-8")
    return Path(out_dir) / INDEX_FILE
