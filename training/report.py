"""The evaluation report: one self-contained HTML file with the metrics table and three plots.

``write_report(evaluation, out_dir)`` writes ``out_dir/report.html`` (atomically) from an
:class:`~training.evaluate.Evaluation`:

* a one-line verdict (:func:`verdict`): the row served (the default hybrid, what ``recommender
  train`` produces), why, and what it costs against the most accurate row, computed from the rows;
* the metrics table (one row per model), the served and the most accurate rows marked;
* the model search's scoreboard on the validation split (every candidate's NDCG@k, long-tail
  share and time, skipped ones with the reason), the chosen one first;
* accuracy against the niche knob: the hybrid's NDCG@k on the test split for each knob, its
  long-tail share on a second axis, the default knob marked, popularity and plain ALS for
  reference;
* exposure by region: the share of recommended slots per region for the default hybrid and for
  popularity, next to the share of the test purchases (the ~15 regions buyers bought most from);
* popularity of what is recommended against what is bought: the share of recommended slots per
  training-popularity decile of the catalog (decile 1 = the 10% best-selling items) for
  popularity, plain ALS and the hybrid, next to the test purchases.

Plots are drawn with matplotlib's Agg canvas (no display, no pyplot state) as wide as the page's
content (:func:`chart_figure`, text at least 12 px), legends below the plot area, and embedded as
base64 PNGs, so the file can be mailed or opened anywhere. A chart the data cannot inform (exposure
by region of a catalog with a single region) is left out with its caption, and a sentence says why.
"""
from __future__ import annotations

import base64
import html
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from recommender.atomic import atomic_file
from training.evaluate import (
    COLUMNS,
    HYBRID_ZERO_ROW,
    PLAIN_ALS_ROW,
    POPULARITY_BUCKETS,
    POPULARITY_ROW,
    Evaluation,
    RowResult,
)
from training.search import describe_trial

REPORT_FILE = "report.html"
TOP_REGIONS = 15
COLOURS = {"hybrid": "#c0392b", "hybrid0": "#e6a29a", "popularity": "#7f8c8d", "als": "#2e6da4",
           "test": "#27ae60", "tail": "#8e44ad"}
CONTENT_WIDTH_PX = 1120  # the pages' content width (STYLE: max-width 70em at 16 px): charts are drawn this wide
DPI = 100  # matplotlib's default text (10 pt, ticks included) is then 14 px high on the page
LEGEND_CHAR_PX = 8  # about the width of a legend character at the default text size


def chart_figure(height_px: int, constrained: bool = True):
    """A figure as wide as the page's content; with ``constrained``, laid out by matplotlib (legends
    outside the plot fit in), else by the caller (one drawing pass instead of two: faster)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(CONTENT_WIDTH_PX / DPI, height_px / DPI), dpi=DPI)
    if constrained:
        fig.set_layout_engine("constrained")
    return fig


def png(fig) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def embedded_chart(image: bytes, alt: str, caption: str = "") -> str:
    """A PNG as an HTML ``<figure>``: embedded (base64), its caption below."""
    data = base64.b64encode(image).decode("ascii")
    caption = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>{caption}</figure>"


def legend_below(fig, *axes) -> int:
    """One legend for the ``axes`` below the plot area, where no marker can cover it, in as many
    columns as the longest label lets fit the width; returns its number of rows."""
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes:
        more_handles, more_labels = ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    columns = max(1, min(len(labels), CONTENT_WIDTH_PX // (60 + LEGEND_CHAR_PX * max(map(len, labels)))))
    fig.legend(handles, labels, loc="outside lower center", ncols=columns, frameon=False)
    return -(-len(labels) // columns)


def _has(evaluation: Evaluation, name: str) -> bool:
    return name in evaluation.names


def tradeoff_plot(evaluation: Evaluation):
    """NDCG@k and long-tail share of the hybrid against the niche knob (figure)."""
    k = evaluation.k
    curve = sorted(evaluation.niche_curve, key=lambda point: point["niche"])
    knobs = np.array([point["niche"] for point in curve])
    ndcg = np.array([point[f"ndcg@{k}"] for point in curve])
    tail = np.array([point["long_tail_share"] for point in curve])
    fig = chart_figure(height_px=520)
    ax = fig.add_subplot()
    ax.plot(knobs, ndcg, "o-", color=COLOURS["hybrid"], label=f"hybrid NDCG@{k}")
    references = [(POPULARITY_ROW, COLOURS["popularity"], ":"), (PLAIN_ALS_ROW, COLOURS["als"], "--")]
    for name, colour, style in references:
        if _has(evaluation, name):
            ax.axhline(evaluation.metric(name, "ndcg@{k}"), color=colour, linestyle=style, linewidth=1.2,
                       label=f"{name} NDCG@{k}")
    ax.set_xlabel("niche knob (0 = relevance order, 1 = strongest niche re-ranking)")
    ax.set_ylabel(f"NDCG@{k} on the test split")
    ax.set_ylim(bottom=0)
    ax.set_xlim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    twin.plot(knobs, tail, "s--", color=COLOURS["tail"], label="hybrid long-tail share")
    twin.set_ylabel("long-tail share of recommended slots", color=COLOURS["tail"])
    twin.tick_params(axis="y", colors=COLOURS["tail"])
    twin.set_ylim(0, max(1e-3, float(np.nanmax(tail)) * 1.15, 0.05))
    default = evaluation.default_niche
    ax.axvline(default, color="black", linewidth=1, alpha=0.6)
    right = default > 0.8  # label on the left of the line near the right edge
    ax.annotate(f"served: {default:g}", xy=(default, 0), xycoords=("data", "axes fraction"),
                xytext=(-4 if right else 4, 6), textcoords="offset points", ha="right" if right else "left")
    legend_below(fig, ax, twin)
    ax.set_title("Accuracy against the niche knob (test split)")
    return fig


def region_plot(evaluation: Evaluation):
    """Share of recommended slots per region vs share of test purchases, top regions (figure; None
    when the catalog has a single region: nothing to compare)."""
    regions = list(evaluation.regions)
    if len(regions) < 2:
        return None
    test = np.asarray(evaluation.test_region_share, dtype=float)
    series = [(f"hybrid (served, niche {evaluation.default_niche:g})",
               np.asarray(evaluation.default_row.region_exposure), COLOURS["hybrid"])]
    if _has(evaluation, POPULARITY_ROW):
        series.append((POPULARITY_ROW, np.asarray(evaluation.row(POPULARITY_ROW).region_exposure),
                       COLOURS["popularity"]))
    series.append(("test purchases", test, COLOURS["test"]))
    top = np.argsort(-test, kind="stable")[:TOP_REGIONS]
    n = len(top)
    fig = chart_figure(height_px=max(320, 48 * n + 160))
    ax = fig.add_subplot()
    height = 0.8 / len(series)
    positions = np.arange(n)
    for i, (label, shares, colour) in enumerate(series):
        ax.barh(positions + (i - (len(series) - 1) / 2) * height, shares[top], height=height, color=colour,
                label=label)
    ax.set_yticks(positions, [shorten(regions[j]) for j in top])
    ax.invert_yaxis()
    ax.set_xlabel("share of recommended slots / of test purchases")
    ax.grid(axis="x", alpha=0.3)
    rest = 1.0 - test[top].sum()
    ax.set_title(f"Exposure by region: the {n} regions most bought from in the test split"
                 + (f"\n(other regions: {rest:.0%} of test purchases)" if rest > 0.005 else ""))
    legend_below(fig, ax)
    return fig


def popularity_plot(evaluation: Evaluation):
    """Share of recommended slots per training-popularity decile vs test purchases (figure)."""
    series = []
    for name, colour in ((POPULARITY_ROW, COLOURS["popularity"]), (PLAIN_ALS_ROW, COLOURS["als"]),
                         (HYBRID_ZERO_ROW, COLOURS["hybrid0"])):
        if _has(evaluation, name):
            series.append((name, evaluation.row(name).popularity_deciles, colour))
    series.append((evaluation.default_row.name, evaluation.default_row.popularity_deciles, COLOURS["hybrid"]))
    series.append(("test purchases", evaluation.test_popularity_deciles, COLOURS["test"]))
    fig = chart_figure(height_px=520)
    ax = fig.add_subplot()
    width = 0.84 / len(series)
    positions = np.arange(POPULARITY_BUCKETS)
    for i, (label, shares, colour) in enumerate(series):
        ax.bar(positions + (i - (len(series) - 1) / 2) * width, shares, width=width, color=colour, label=label)
    ax.set_xticks(positions, [f"{10 * i}-{10 * (i + 1)}%" for i in range(POPULARITY_BUCKETS)])
    ax.set_xlabel("items ranked by training popularity (buyers), in deciles of the catalog: most popular left")
    ax.set_ylabel("share of slots / of test purchases")
    ax.axvspan(1.5, POPULARITY_BUCKETS - 0.5, color="grey", alpha=0.08)
    ax.text(1.6, 0.97, "long tail (outside the top 20%)", transform=ax.get_xaxis_transform(), va="top",
            color="dimgrey")
    ax.grid(axis="y", alpha=0.3)
    legend_below(fig, ax)
    ax.set_title("Popularity of what is recommended and of what is bought")
    return fig


def shorten(text: str, width: int = 38) -> str:
    """``text`` cut to ``width`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= width else text[:width - 1] + "…"


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return fmt.format(value)


def _search_html(evaluation: Evaluation) -> str:
    """The model search's scoreboard as an HTML table (empty when the config named its model)."""
    search = evaluation.validation.get("search")
    if not search:
        return "<p>The config named its components: no model search.</p>"
    rows = sorted(search["trials"], key=lambda t: (t["status"] != "ok", -(t["ndcg"] or 0.0)))
    body = []
    for trial in rows:
        chosen = trial == search["best"]
        name = html.escape(describe_trial(trial))
        ok = trial["status"] == "ok"
        cells = (f"<td>{trial['ndcg']:.4f}</td><td>{trial['long_tail_share']:.3f}</td>" if ok else
                 f"<td>{html.escape(trial['status'])}</td><td class='name'>{html.escape(trial['reason'])}</td>")
        body.append(f"<tr><th class='name'>{'<b>' + name + '</b>' if chosen else name}</th>{cells}"
                    f"<td>{trial['seconds']:.1f}</td></tr>")
    metric = html.escape(search["metric"])
    return (f"<p>{len(search['trials'])} candidates in {search['seconds']:.0f} s of a {search['budget_seconds']:.0f} s "
            f"budget, judged by {metric} on {search['buyers']:,} validation buyers (the last days of the training "
            f"split; this test split was not seen). The chosen model is in bold.</p>"
            f"<div class='scroll'><table><thead><tr><th>candidate</th><th>{metric}</th><th>long tail</th>"
            f"<th>seconds</th></tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def most_accurate_row(evaluation: Evaluation) -> RowResult:
    """The row with the highest NDCG@k (the first of equals)."""
    key = f"ndcg@{evaluation.k}"
    return max((row for row in evaluation.rows if not math.isnan(row.metrics[key])), key=lambda row: row.metrics[key])


def _niche_reason(evaluation: Evaluation) -> str:
    """Why the served row has its niche knob, from the training config."""
    config, k, niche = evaluation.config, evaluation.k, evaluation.default_niche
    if config["niche"] != "auto":
        return f"niche knob {niche:g} set by the config"
    return (f"niche knob {niche:g}, the largest that keeps NDCG@{k} within {config['niche_max_ndcg_loss']:.0%} of "
            f"pure relevance order there, trading a little accuracy for long-tail exposure")


def verdict(evaluation: Evaluation) -> str:
    """One line: the row served (the default hybrid, as ``recommender train`` makes it), why, and its
    NDCG@k and long-tail share against the most accurate row's, all from the evaluation's rows."""
    k = evaluation.k
    served, best = evaluation.default_row, most_accurate_row(evaluation)
    ndcg, mine, theirs = f"ndcg@{k}", served.metrics, best.metrics
    days, windows = evaluation.config["validation_days"], len(evaluation.validation.get("window_buyers", [0]))
    why = (f"Served: {served.name}, the model \"recommender train\" builds, chosen on {windows} validation "
           f"window{'s' if windows > 1 else ''} of {days} days inside the training days (their last "
           f"{windows * days} days), with the {_niche_reason(evaluation)}.")
    if mine[ndcg] >= theirs[ndcg]:
        return (f"{why} It is also the most accurate row: NDCG@{k} {mine[ndcg]:.3f}, "
                f"long-tail share {mine['long_tail_share']:.2f}.")
    return (f"{why} Cost against the most accurate row: NDCG@{k} {mine[ndcg]:.3f} vs {theirs[ndcg]:.3f} for "
            f"{best.name} ({mine[ndcg] / theirs[ndcg] - 1:+.0%}), long-tail share {mine['long_tail_share']:.2f} vs "
            f"{theirs['long_tail_share']:.2f}.")


def _table_html(evaluation: Evaluation) -> str:
    """The metrics table; the served and the most accurate rows are marked."""
    k = evaluation.k
    head = "".join(f"<th>{html.escape(header.format(k=k))}</th>" for _, header, _ in COLUMNS)
    served, best = evaluation.default_row.name, most_accurate_row(evaluation).name
    body = []
    for row in evaluation.rows:
        cells = "".join(f"<td>{_cell(row.metrics.get(key.format(k=k)), fmt)}</td>" for key, _, fmt in COLUMNS)
        tags = [tag for tag, name in (("served", served), ("most accurate", best)) if row.name == name]
        name = html.escape(row.name) + "".join(f" <span class='tag'>{tag}</span>" for tag in tags)
        body.append(f"<tr><th class='name'>{f'<b>{name}</b>' if row.name == served else name}</th>{cells}</tr>")
    return (f"<div class='scroll'><table><thead><tr><th>model</th>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            f"</table></div>")


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans SC",sans-serif;margin:2em auto;max-width:70em;
color:#222;line-height:1.45;padding:0 1em}
table{border-collapse:collapse;font-size:0.9em;margin:1em 0}
.scroll{overflow-x:auto;max-width:100%}
th,td{padding:0.3em 0.7em;border-bottom:1px solid #ddd;text-align:right;font-variant-numeric:tabular-nums}
th.name,td.name,thead th:first-child{text-align:left;font-weight:normal}
thead th{border-bottom:2px solid #888}
figure{margin:1.5em 0}
figure img{width:100%;height:auto}
figcaption{font-size:0.9em;color:#555;max-width:50em}
dt{font-weight:bold;margin-top:0.4em}
.small{font-size:0.85em;color:#555}
.nowrap{white-space:nowrap}
.lead,.verdict{font-size:1.15em}
.verdict{border-left:4px solid #c0392b;padding:0.3em 0.8em;background:#fbf3f2}
.tag{font-size:0.8em;color:#555;border:1px solid #aaa;border-radius:3px;padding:0 0.3em;white-space:nowrap}
.rising{color:#1e7d3c}
.falling{color:#b03a2e}
"""

REGION_CAPTION = ("Share of recommended slots per region (served hybrid and popularity) and share of the test "
                  "purchases per region, for the regions buyers bought most from in the test split.")
POPULARITY_CAPTION = ("Share of recommended slots falling in each popularity decile of the catalog (items ranked by "
                      "the number of training buyers), and the same for the test purchases (items new to the buyer). "
                      "Deciles 3-10 are the long tail.")


def charts(evaluation: Evaluation) -> list[tuple[str, bytes, str]]:
    """The charts the data informs, drawn: (name, PNG bytes, caption)."""
    k = evaluation.k
    tradeoff_caption = (
        f"The hybrid on the test split for each value of the niche knob: NDCG@{k} (left axis) and the share of "
        f"recommended slots outside the 20% most popular items (right axis). The vertical line is the served knob, "
        f"chosen on validation windows inside the training data (not on this test split); the flat lines are the "
        f"baselines' NDCG@{k}.")
    drawn = [("tradeoff", tradeoff_plot(evaluation), tradeoff_caption),
             ("regions", region_plot(evaluation), REGION_CAPTION),
             ("popularity", popularity_plot(evaluation), POPULARITY_CAPTION)]
    return [(name, png(fig), caption) for name, fig, caption in drawn if fig is not None]


def report_html(evaluation: Evaluation, drawn: list[tuple[str, bytes, str]] | None = None) -> str:
    """The report as one HTML string, charts embedded (``drawn``: :func:`charts`, when already drawn)."""
    k, c = evaluation.k, evaluation.counts
    drawn = charts(evaluation) if drawn is None else drawn
    figures = "".join(embedded_chart(image, name, caption) for name, image, caption in drawn)
    if "regions" not in {name for name, _, _ in drawn}:
        figures += (f"<p>No chart of exposure by region: the catalog has a single region "
                    f"({html.escape(', '.join(evaluation.regions) or 'none')}).</p>")
    summary = (f"Temporal split: the last {evaluation.test_days:g} days (purchases after {evaluation.cutoff}) test; "
               f"{c['train_lines']:,} purchase lines by {c['train_buyers']:,} buyers over {c['items']:,} items "
               f"train. Scored: {c['test_buyers']:,} buyers who bought at least one item new to them in the "
               f"test split ({c['relevant_pairs']:,} buyer-item pairs), top {k}, items already bought excluded. "
               f"{c['new_items']:,} items were first sold after the cutoff, bought by {c['cold_start_buyers']:,} "
               f"of the scored buyers.")
    definitions = (
        f"<dl><dt>NDCG@{k}, Recall@{k}, Recall@20, MAP@{k}</dt><dd>Binary relevance: a buyer's test purchases "
        f"of items not bought in training; means over scored buyers.</dd>"
        f"<dt>tail Recall@{k}</dt><dd>Recall@{k} counting only the relevant items outside the 20% most popular: "
        "the long-tail goods the lists found.</dd>"
        "<dt>coverage</dt><dd>Share of available catalog items recommended to at least one scored buyer.</dd>"
        "<dt>long tail</dt><dd>Share of recommended slots outside the 20% most popular items (by number of "
        "training buyers).</dd>"
        "<dt>avg pop</dt><dd>Mean number of training buyers of the recommended items.</dd>"
        "<dt>Gini region / merchant</dt><dd>Gini coefficient of recommended slots across the catalog's "
        "regions / merchants (0 = even; n/a when the catalog has a single label).</dd>"
        "<dt>least 5th merch.</dt><dd>Share of recommended slots going to the least-exposed fifth of the "
        "merchants (0.2 if all were shown alike; 0 if the bottom fifth never appears).</dd>"
        "<dt>priority exp./buys</dt><dd>The priority-region items' share of the recommended slots over their "
        "share of the test purchases (1: shown as much as bought; below 1: under-exposed).</dd>"
        f"<dt>cold Recall@{k}</dt><dd>For scored buyers who bought items first sold after the cutoff: the "
        f"share of those new items found in their top-{k} list, averaged. Collaborative models cannot rank "
        "items without purchases.</dd></dl>")
    seconds = evaluation.seconds
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>Recommender evaluation</title><style>{STYLE}</style></head><body>"
            f"<h1>Recommender evaluation</h1><p class='verdict'>{html.escape(verdict(evaluation))}</p><p>{summary}</p>"
            f"<h2>Metrics</h2>{_table_html(evaluation)}{definitions}"
            f"<h2>Model search</h2>{_search_html(evaluation)}"
            f"<h2>Plots</h2>{figures}"
            f"<p class='small'>Run time {seconds.get('total', float('nan')):.1f} s (hybrid training "
            f"{seconds.get('hybrid_train', float('nan')):.1f} s).</p></body></html>")


def write_report(evaluation: Evaluation, out_dir: str | os.PathLike, png_dir: str | os.PathLike | None = None
                 ) -> Path:
    """Write ``out_dir/report.html`` atomically and return its path. With ``png_dir``, the charts
    are also written there as PNG files (``<name>.png``, for a look without a browser)."""
    out = Path(out_dir) / REPORT_FILE
    drawn = charts(evaluation)
    text = report_html(evaluation, drawn)
    with atomic_file(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    if png_dir is not None:
        for name, image, _ in drawn:
            with atomic_file(Path(png_dir) / f"{name}.png") as tmp:
                tmp.write_bytes(image)
    return out
