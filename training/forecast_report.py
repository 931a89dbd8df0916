"""Per-merchant forecast reports: one self-contained HTML page per merchant, and an index.

``write_forecast_report(forecast, out_dir)`` takes a forecast by item x city tier
(:func:`recommender.forecasting.forecast` with ``by="item,city_tier"``) and writes, atomically,

* ``out_dir/index.html``: every merchant with its forecast total and change, linking to
* ``out_dir/merchant-<id>.html``: for one merchant, one PNG (embedded) with three panels, the
  last year of weekly (or daily) history and the forecast with its P10-P90 band:
  the merchant's total; its best-selling items (by forecast); its demand per city tier. Below it,
  a table per city tier: units in the last ``horizon`` periods, forecast units over the horizon,
  the change, and whether that tier's demand is **rising** (forecast at least
  :data:`RISING` above the recent past).

Totals are bottom-up sums of the item x tier P50s (coherent with the CSV); their bands are the
aggregates' own calibrated bands (:func:`recommender.forecasting.aggregate`). Plots use
matplotlib's Agg canvas, as in :mod:`training.report`.
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
from recommender.forecasting import Forecast, aggregate
from training.report import STYLE, _png, _short

INDEX_FILE = "index.html"
HISTORY_PERIODS = {"W": 52, "D": 120}
TOP_ITEMS = 5
RISING = 0.10
TIER_NAMES = {0: "unknown tier"}
REPORT_JOBS = 2  # with many merchants, pages are drawn in two processes (starting them costs seconds)
PARALLEL_FROM = 20
COLOURS = ("#c0392b", "#2e6da4", "#27ae60", "#8e44ad", "#d35400", "#7f8c8d")


def merchant_file(merchant_id: str) -> str:
    """The page name of a merchant (ids made safe for file names)."""
    return "merchant-" + re.sub(r"[^A-Za-z0-9._-]+", "_", merchant_id) + ".html"


def _totals(forecast: Forecast, groups: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per group label: (history of units over all periods, forecast quantiles horizon x 3)."""
    result = forecast.result
    labels, quantiles = aggregate(result, groups)
    inverse = np.unique(groups, return_inverse=True)[1]
    history = np.zeros((len(labels), result.panel.n_periods))
    np.add.at(history, inverse, result.panel.values)
    return {label: (history[k], quantiles[k]) for k, label in enumerate(labels)}


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


def tier_rows(tiers: dict, horizon: int) -> list[dict]:
    """Per tier: recent units (last ``horizon`` periods), forecast units, change, rising flag."""
    rows = []
    for tier, (history, quantiles) in sorted(tiers.items()):
        recent, ahead = float(history[-horizon:].sum()), float(quantiles[:, 1].sum())
        change = ahead / recent - 1 if recent > 0 else float("nan")
        rows.append({"tier": TIER_NAMES.get(tier, f"tier {tier}"), "recent": recent, "forecast": ahead,
                     "low": float(quantiles[:, 0].sum()), "high": float(quantiles[:, 2].sum()), "change": change,
                     "rising": bool(change >= RISING) if recent > 0 else ahead > 0})
    return rows


def _tier_table(rows: list[dict], horizon: int) -> str:
    def change(value: float) -> str:
        return "n/a" if np.isnan(value) else f"{value:+.0%}"

    body = "".join(
        f"<tr><th class='name'>{html.escape(r['tier'])}</th><td>{r['recent']:,.0f}</td><td>{r['forecast']:,.0f}</td>"
        f"<td>{r['low']:,.0f} - {r['high']:,.0f}</td><td>{change(r['change'])}</td>"
        f"<td>{'<b>rising</b>' if r['rising'] else ''}</td></tr>" for r in rows)
    return (f"<table><thead><tr><th>city tier</th><th>last {horizon} periods</th><th>forecast P50</th>"
            f"<th>sum of period P10 - P90</th><th>change</th><th></th></tr></thead><tbody>{body}</tbody></table>")


def merchant_page(merchant: str, total, items: list, tiers: dict, starts, future, unit: str) -> str:
    """One merchant's report page (HTML string, plot embedded); arguments as :func:`merchant_plot`."""
    h = len(future)
    png = base64.b64encode(merchant_plot(merchant, total, items, tiers, starts, future)).decode("ascii")
    rows = tier_rows(tiers, h)
    rising = [r["tier"] for r in rows if r["rising"]]
    history, quantiles = total
    summary = (f"Forecast for the {h} {unit} from {future[0].date()}: <b>{quantiles[:, 1].sum():,.0f}</b> units "
               f"(P50, bottom-up over items and tiers) against {history[-h:].sum():,.0f} in the last {h} {unit}. "
               f"City tiers with rising demand: {html.escape(', '.join(rising)) if rising else 'none'}.")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Forecast: {html.escape(merchant)}"
            f"</title><style>{STYLE}</style></head><body><p><a href='{INDEX_FILE}'>all merchants</a></p>"
            f"<h1>Demand forecast: {html.escape(merchant)}</h1><p>{summary}</p>"
            f"<figure><img alt='history and forecast' src='data:image/png;base64,{png}'><figcaption>Solid: units sold "
            f"per period (last year). Dashed: forecast P50. Shaded: P10-P90 band (8 periods in 10 should fall "
            f"inside).</figcaption></figure><h2>City tiers</h2>{_tier_table(rows, h)}"
            f"<p class='small'>A tier is rising when its forecast over the next {h} {unit} is at least "
            f"{RISING:.0%} above its last {h} {unit}.</p></body></html>")


def write_forecast_report(forecast: Forecast, out_dir: str | os.PathLike, show_progress: bool = False) -> Path:
    """Write the index and one page per merchant into ``out_dir`` (replaced atomically); returns the index."""
    panel = forecast.result.panel
    if "city_tier" not in panel.series:
        raise ValueError("the report needs a forecast by item,city_tier")
    series = panel.series
    merchants = series.merchant_id.to_numpy()
    totals = _totals(forecast, merchants)
    items = _totals(forecast, series.item_id.to_numpy())
    result = forecast.result
    keep = min(HISTORY_PERIODS[panel.freq], panel.n_periods)  # plots show the last year of history
    tiers = _totals(forecast, (series.merchant_id + "\x1f" + series.city_tier.astype("str")).to_numpy())
    items_of = series.groupby("merchant_id").item_id.unique()
    tiers_of: dict[str, dict] = {}
    for key, value in tiers.items():
        merchant, tier = key.split("\x1f")
        tiers_of.setdefault(merchant, {})[int(tier)] = value
    jobs = []
    for merchant in sorted(totals):
        ranked = sorted(items_of[merchant], key=lambda item: -items[item][1][:, 1].sum())[:TOP_ITEMS]
        jobs.append((merchant, _last(totals[merchant], keep), [(i, _last(items[i], keep)) for i in ranked],
                     {tier: _last(value, keep) for tier, value in tiers_of[merchant].items()}))
    unit = "weeks" if panel.freq == "W" else "days"
    starts = panel.starts[-keep:]
    progress = tqdm(jobs, disable=not show_progress, unit="merchant", desc="report")
    pages = Parallel(n_jobs=REPORT_JOBS if len(jobs) >= PARALLEL_FROM else 1)(delayed(merchant_page)(*job, starts, result.starts, unit) for job in progress)
    with atomic_directory(out_dir) as tmp:
        for (merchant, *_), page in zip(jobs, pages):
            (tmp / merchant_file(merchant)).write_text(page, encoding="utf-8")
        index_rows = [(merchant, total, [r["tier"] for r in tier_rows(own, result.horizon) if r["rising"]])
                      for merchant, total, _, own in jobs]
        (tmp / INDEX_FILE).write_text(_index(forecast, index_rows), encoding="utf-8")
    return Path(out_dir) / INDEX_FILE


def _last(pair: tuple[np.ndarray, np.ndarray], keep: int) -> tuple[np.ndarray, np.ndarray]:
    return pair[0][-keep:], pair[1]


def _index(forecast: Forecast, rows: list) -> str:
    h = forecast.result.horizon
    body = "".join(
        f"<tr><th class='name'><a href='{merchant_file(m)}'>{html.escape(m)}</a></th>"
        f"<td>{history[-h:].sum():,.0f}</td><td>{q[:, 1].sum():,.0f}</td><td>{html.escape(', '.join(rising))}</td></tr>"
        for m, (history, q), rising in rows)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Demand forecasts</title>"
            f"<style>{STYLE}</style></head><body><h1>Demand forecasts by merchant</h1>"
            f"<p>{len(rows)} merchants; forecast from {forecast.result.starts[0].date()} for {h} periods.</p>"
            f"<table><thead><tr><th>merchant</th><th>last {h} periods</th><th>forecast P50</th>"
            f"<th>rising city tiers</th></tr></thead><tbody>{body}</tbody></table></body></html>")
