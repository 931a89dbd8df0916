"""Per-merchant forecast reports: one self-contained HTML page per merchant, and an index.

``write_forecast_report(items, tiers, out_dir)`` takes the views of one forecast by item and one
by item x city tier (:func:`recommender.forecasting.forecast`) and writes, atomically,

* ``out_dir/index.html``: every merchant of the views with its forecast total and change, linking to
* ``out_dir/merchant-<id>.html``: for one merchant, one PNG (embedded) with three panels, the
  last year of weekly (or daily) history and the forecast with its P10-P90 band:
  the merchant's total; its best-selling items (by forecast); its demand per city tier. Below it,
  its top items with the method chosen for each, their recent level and trend, and a table per
  city tier: units in the last ``horizon`` periods, forecast units over the horizon, the recent
  trend, and whether that tier's demand is **rising**
  (:data:`~recommender.forecasting.views.RISING`).

The merchant's total and its items are the item forecast's, exactly as ``recommender forecast``
and the API publish them (:meth:`~recommender.forecasting.views.Forecast.totals_table`); the
tiers are the item x tier forecast's totals per merchant and tier. Plots use matplotlib's Agg
canvas, as in :mod:`training.report`.
"""
from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from tqdm import tqdm

from recommender.atomic import atomic_directory
from recommender.columns import TEXT
from recommender.forecasting import SELECTED, Forecast, aggregate
from recommender.forecasting.panel import RECENT
from recommender.forecasting.views import RISING, recent_trend
from training.report import STYLE, _png, _short

INDEX_FILE = "index.html"
HISTORY_PERIODS = {"W": 52, "D": 120}
TOP_ITEMS = 5
TIER_NAMES = {0: "unknown tier"}
REPORT_JOBS = 2  # with many merchants, pages are drawn in two processes (starting them costs seconds)
PARALLEL_FROM = 20
COLOURS = ("#c0392b", "#2e6da4", "#27ae60", "#8e44ad", "#d35400", "#7f8c8d")


def merchant_file(merchant_id: str) -> str:
    """The page name of a merchant (ids made safe for file names)."""
    return "merchant-" + re.sub(r"[^A-Za-z0-9._-]+", "_", merchant_id) + ".html"


def _totals(forecast: Forecast, groups: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per group label: (history of units over all periods, forecast quantiles ``horizon x 3``), the
    totals of the view's fit (:func:`~recommender.forecasting.selection.aggregate`)."""
    labels, quantiles, history = aggregate(forecast.result, groups)
    return {label: (history[k], quantiles[k, :forecast.horizon]) for k, label in enumerate(labels)}


def _draw(ax, starts, history, future, quantiles, title: str, colour: str, band: bool = True) -> None:
    ax.plot(starts, history, color=colour, linewidth=1.2)
    ax.plot(future, quantiles[:, 1], color=colour, linewidth=1.6, linestyle="--")
    if band:
        ax.fill_between(future, quantiles[:, 0], quantiles[:, 2], color=colour, alpha=0.2, linewidth=0)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)
    ax.set_ylim(bottom=0)


def merchant_plot(merchant: str, total, items: list, tiers: dict, starts, future) -> bytes:
    """Merchant total, top items and city tiers: history, P50 forecast (dashed), P10-P90 band (PNG).

    Each of ``total``, ``items`` (pairs of label and value) and ``tiers`` holds ``(history,
    quantiles)``: units over the periods ``starts`` (the last year), P10/P50/P90 over ``future``.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 7.5), dpi=80)  # fixed layout and low dpi: hundreds of merchants render fast
    fig.subplots_adjust(left=0.07, right=0.98, top=0.96, bottom=0.05, hspace=0.35)
    top, middle, bottom = fig.subplots(3, 1)
    history, quantiles = total
    _draw(top, starts, history, future, quantiles, f"{merchant}: all items (units per period)", COLOURS[0])
    for k, (item, (item_history, item_quantiles)) in enumerate(items):
        _draw(middle, starts, item_history, future, item_quantiles, "", COLOURS[(k + 1) % len(COLOURS)])
        middle.plot([], [], color=COLOURS[(k + 1) % len(COLOURS)], label=_short(item, 30))
    middle.set_title(f"top {len(items)} items by forecast", fontsize=9)
    middle.legend(fontsize=7, loc="upper left")
    for k, (tier, (tier_history, tier_quantiles)) in enumerate(sorted(tiers.items())):
        _draw(bottom, starts, tier_history, future, tier_quantiles, "", COLOURS[(k + 1) % len(COLOURS)],
              band=False)
        bottom.plot([], [], color=COLOURS[(k + 1) % len(COLOURS)], label=TIER_NAMES.get(tier, f"tier {tier}"))
    bottom.set_title("demand per city tier (P50 dashed)", fontsize=9)
    bottom.legend(fontsize=7, loc="upper left")
    return _png(fig)


def tier_rows(tiers: dict, horizon: int, freq: str) -> list[dict]:
    """Per tier: recent units (last ``horizon`` periods), forecast units and band, recent trend, rising flag."""
    rows = []
    for tier, (history, quantiles) in sorted(tiers.items()):
        trend = float(recent_trend(history[None, :], freq)[1][0])
        rows.append({"tier": TIER_NAMES.get(tier, f"tier {tier}"), "recent": float(history[-horizon:].sum()),
                     "forecast": float(quantiles[:, 1].sum()), "low": float(quantiles[:, 0].sum()),
                     "high": float(quantiles[:, 2].sum()), "trend": trend, "rising": bool(trend >= RISING)})
    return rows


def _change(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:+.0%}"


def _tier_table(rows: list[dict], horizon: int) -> str:
    body = "".join(
        f"<tr><th class='name'>{html.escape(r['tier'])}</th><td>{r['recent']:,.0f}</td><td>{r['forecast']:,.0f}</td>"
        f"<td>{r['low']:,.0f} - {r['high']:,.0f}</td><td>{_change(r['trend'])}</td>"
        f"<td>{'<b>rising</b>' if r['rising'] else ''}</td></tr>" for r in rows)
    return (f"<table><thead><tr><th>city tier</th><th>last {horizon} periods</th><th>forecast P50</th>"
            f"<th>sum of period P10 - P90</th><th>recent trend</th><th></th></tr></thead><tbody>{body}</tbody></table>")


def _item_table(explained: list[dict]) -> str:
    body = "".join(
        f"<tr><th class='name'>{html.escape(r['item_id'])}</th><td>{r['forecast']:,.1f}</td>"
        f"<td>{html.escape(r['model'])}</td><td>{r['recent_level']:,.2f}</td><td>{_change(r['recent_trend'])}</td></tr>"
        for r in explained)
    return ("<table><thead><tr><th>item</th><th>forecast P50</th><th>method</th><th>recent units per period</th>"
            f"<th>recent trend</th></tr></thead><tbody>{body}</tbody></table>")


def merchant_page(merchant: str, total, items: list, tiers: dict, explained: list[dict], starts, future,
                  freq: str) -> str:
    """One merchant's report page (HTML string, plot embedded); ``explained`` holds the top items'
    method, recent level and trend (rows of the forecast table); the rest as :func:`merchant_plot`."""
    h, unit = len(future), "weeks" if freq == "W" else "days"
    png = base64.b64encode(merchant_plot(merchant, total, items, tiers, starts, future)).decode("ascii")
    rows = tier_rows(tiers, h, freq)
    rising = [r["tier"] for r in rows if r["rising"]]
    history, quantiles = total
    summary = (f"Forecast for the {h} {unit} from {future[0].date()}: "
               f"<b class='total'>{quantiles[:, 1].sum():,.0f}</b> units (P50 of the merchant's total) against "
               f"{history[-h:].sum():,.0f} in the last {h} {unit}. "
               f"City tiers with rising demand: {html.escape(', '.join(rising)) if rising else 'none'}.")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Forecast: {html.escape(merchant)}"
            f"</title><style>{STYLE}</style></head><body><p><a href='{INDEX_FILE}'>all merchants</a></p>"
            f"<h1>Demand forecast: {html.escape(merchant)}</h1><p>{summary}</p>"
            f"<figure><img alt='history and forecast' src='data:image/png;base64,{png}'><figcaption>Solid: units sold "
            f"per period (last year). Dashed: forecast P50. Shaded: P10-P90 band (8 periods in 10 should fall "
            f"inside).</figcaption></figure><h2>Top items</h2>{_item_table(explained)}"
            f"<h2>City tiers</h2>{_tier_table(rows, h)}"
            f"<p class='small'>Recent trend: units of the last {RECENT[freq]} {unit} against the {RECENT[freq]} "
            f"before; a tier is rising when its trend is at least {RISING:.0%}.</p></body></html>")


def write_forecast_report(items: Forecast, tiers: Forecast, out_dir: str | os.PathLike,
                          show_progress: bool = False) -> Path:
    """Write the index and one page per merchant of the views into ``out_dir`` (replaced
    atomically); ``items`` is a view by item, ``tiers`` by item x city tier; returns the index."""
    if items.by != "item" or tiers.by != "item,city_tier":
        raise ValueError("the report needs a forecast by item and one by item,city_tier")
    panel = items.panel
    series = panel.series
    totals = _totals(items, series.merchant_id.to_numpy())
    per_item = {item: (panel.values[k], items.result.quantiles[SELECTED][k, :items.horizon])  # the items' own rows
                for k, item in enumerate(series.item_id)}
    table = items.series_table()
    explained = table.drop_duplicates("item_id").set_index("item_id")
    tier_series = tiers.panel.series
    tier_keys = tier_series.merchant_id + "\x1f" + tier_series.city_tier.astype(int).astype(TEXT)
    by_tier = _totals(tiers, tier_keys.to_numpy())
    tiers_of: dict[str, dict] = {}
    for key, value in by_tier.items():
        merchant, tier = key.split("\x1f")
        tiers_of.setdefault(merchant, {})[int(tier)] = value
    keep = min(HISTORY_PERIODS[panel.freq], panel.n_periods)  # plots show the last year of history
    jobs = []
    for merchant, own in table.groupby("merchant_id", sort=True).item_id:
        ranked = sorted(own.unique(), key=lambda item: -per_item[item][1][:, 1].sum())[:TOP_ITEMS]
        reasons = [{"item_id": item, "forecast": float(per_item[item][1][:, 1].sum()),
                    **explained.loc[item, ["model", "recent_level", "recent_trend"]].to_dict()} for item in ranked]
        jobs.append((merchant, _last(totals[merchant], keep), [(i, _last(per_item[i], keep)) for i in ranked],
                     {tier: _last(value, keep) for tier, value in tiers_of.get(merchant, {}).items()}, reasons))
    starts = panel.starts[-keep:]
    progress = tqdm(jobs, disable=not show_progress, unit="merchant", desc="report")
    pages = Parallel(n_jobs=REPORT_JOBS if len(jobs) >= PARALLEL_FROM else 1)(
        delayed(merchant_page)(*job, starts, items.starts, panel.freq) for job in progress)
    with atomic_directory(out_dir) as tmp:
        for (merchant, *_), page in zip(jobs, pages):
            (tmp / merchant_file(merchant)).write_text(page, encoding="utf-8")
        index_rows = [(merchant, total, [r["tier"] for r in tier_rows(own, items.horizon, panel.freq) if r["rising"]])
                      for merchant, total, _, own, _ in jobs]
        (tmp / INDEX_FILE).write_text(_index(items, index_rows), encoding="utf-8")
    return Path(out_dir) / INDEX_FILE


def _last(pair: tuple[np.ndarray, np.ndarray], keep: int) -> tuple[np.ndarray, np.ndarray]:
    return pair[0][-keep:], pair[1]


def _index(forecast: Forecast, rows: list) -> str:
    h = forecast.horizon
    body = "".join(
        f"<tr><th class='name'><a href='{merchant_file(m)}'>{html.escape(m)}</a></th>"
        f"<td>{history[-h:].sum():,.0f}</td><td>{q[:, 1].sum():,.0f}</td><td>{html.escape(', '.join(rising))}</td></tr>"
        for m, (history, q), rising in rows)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Demand forecasts</title>"
            f"<style>{STYLE}</style></head><body><h1>Demand forecasts by merchant</h1>"
            f"<p>{len(rows)} merchants; forecast from {forecast.starts[0].date()} for {h} periods.</p>"
            f"<table><thead><tr><th>merchant</th><th>last {h} periods</th><th>forecast P50</th>"
            f"<th>rising city tiers</th></tr></thead><tbody>{body}</tbody></table></body></html>")
