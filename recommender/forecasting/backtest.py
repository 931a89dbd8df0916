"""Rolling-origin backtests: the forecast against every simple baseline, in the same run, on the same series.

At each origin the panel is cut (everything after it unseen), the forecast is fitted exactly as
``recommender forecast`` would fit it there (:func:`~recommender.forecasting.selection.forecast_panel`:
validation windows, selection and calibration inside that history only; item x city tier series
split from the item fit) and the next ``horizon``
periods are scored. Every candidate of that one fit is scored too: the simple methods of
statsforecast (:data:`~recommender.forecasting.methods.SIMPLE`: naive, seasonal naive, moving
averages of 4, 8 and 12 periods, AutoETS, Croston, TSB, ADIDA, IMAPA), the global model, and
**best simple**, the simple method with the lowest WAPE on that level of this backtest (chosen
with hindsight, so a bar the forecast has to clear, not a method one could run). Rows are scored
per series and per merchant total (each method's series summed by
:func:`~recommender.forecasting.selection.aggregate`); ``vs_best_simple`` is each row's WAPE over
best simple's. By item, the hierarchy's table follows (:func:`_hierarchy_errors`): the published
merchant totals are its chosen reconciliation's rows, not the "merchant total" rows above.

Metrics (:mod:`recommender.forecasting.metrics`): WAPE, MASE, bias, P10-P90 coverage of each
method's conformal band, and, for the selected forecast, the coverage at each horizon step.
``min_recent_sales`` scores only series sold in at least that many of the :data:`ACTIVE_WINDOW`
periods before each origin (the issue's UCI measurement: 4 of the last 20 weeks).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.forecasting import metrics as fm
from recommender.forecasting.hierarchy import (
    AGGREGATES,
    ITEM,
    RECONCILERS,
    reconcile,
    reconcile_fit,
    split_by_tier,
)
from recommender.forecasting.methods import SIMPLE
from recommender.forecasting.panel import ForecastInputError, demand_panel, group_sums
from recommender.forecasting.selection import SELECTED, PanelForecast, aggregate, forecast_panel
from recommender.forecasting.spec import check_request
from recommender.loaders import Dataset
from recommender.progress import progress_bar

BEST_SIMPLE = "best simple"
ACTIVE_WINDOW = 20


@dataclass
class Backtest:
    """Rolling-origin backtest: metrics per level and method, every origin pooled."""

    horizon: int
    freq: str
    by: str
    origins: list[pd.Timestamp]
    metrics: pd.DataFrame  # one row per (level, model): wape, mase, bias, coverage_p10_p90, series, vs_best_simple
    step_coverage: list[float]  # the selected forecast's P10-P90 coverage at each horizon step (series level)
    unscored_share: float  # share of test units sold by series not scored (first sold after their origin, or
    # sold too seldom before it)
    seconds: float
    hierarchy: pd.DataFrame | None = None  # by item: WAPE per level (items, merchants, categories, regions, the
    # whole market) of the reconciled forecasts, every reconciliation method and each level's own forecasts, and the
    # P10-P90 coverage of the chosen one's totals
    reconcilers: list[str] | None = None  # the reconciliation method chosen at each origin

    def summary(self) -> str:
        """The metrics as a printable table, with what was scored."""
        table = self.metrics.to_string(index=False, float_format=lambda x: f"{x:.3f}", na_rep="n/a")
        unit = "weeks" if self.freq == "W" else "days"
        starts = ", ".join(str(o.date()) for o in self.origins)
        absent = sorted(set(SIMPLE) - set(self.metrics.model))
        note = (f"\nnot run: {', '.join(absent)} (seasonal naive needs a whole season of history before each origin)"
                if absent else "")
        steps = " ".join(f"{c:.2f}" for c in self.step_coverage)
        levels = ""
        if self.hierarchy is not None:
            levels = (f"\nthe hierarchy: mean forecasts reconciled by {', '.join(self.reconcilers or [])} (chosen on "
                      f"the validation windows; items: the series scored above, their published forecast is "
                      f"{ITEMS_P50!r}):\n"
                      + self.hierarchy.to_string(index=False, float_format=lambda x: f"{x:.3f}", na_rep="n/a"))
        return (f"rolling-origin backtest: {len(self.origins)} origin(s) ({starts}), horizon {self.horizon} {unit}, "
                f"series by {self.by}; {self.seconds:.1f} s\n{table}{note}\n"
                f"selected forecast, P10-P90 coverage per step: {steps}\n"
                f"{BEST_SIMPLE!r} is the simple method with the lowest WAPE on each level, chosen with hindsight; "
                f"{self.unscored_share:.1%} of test units were sold by series not scored{levels}")


OWN_BASELINES = ("naive", "ma4", "ma8", "ma12", "auto_ets")  # each level's own simple forecasts in the hierarchy table
ITEMS_P50 = "sums of the items' P50s"  # the published items' forecasts and the totals a sum of medians makes


def _hierarchy_errors(result: PanelForecast, actual: np.ndarray, scored: np.ndarray,
                      errors: dict[tuple[str, str], np.ndarray]) -> str:
    """Add each level's absolute errors and units sold (``errors[(level, forecast)]``: ``[error,
    units, P10-P90 cells covered, cells]``: the last two for the chosen reconciliation's totals) of
    the reconciled mean forecasts, every reconciliation method, the sums of the items' P50s and each
    level's own forecasts on the test window ``actual`` (``series x horizon``, items ``scored``
    only); returns the method chosen."""
    reconciled = reconcile_fit(result)
    hierarchy, means = reconciled.hierarchy, reconciled.means
    summing, levels, horizon = hierarchy.matrix, hierarchy.row_levels, actual.shape[1]
    final = means.final()
    chosen = f"reconciled ({reconciled.method})"
    forecasts = {chosen: reconciled.point,
                 **{f"reconciled by {method}": reconcile(method, summing, *final) for method in RECONCILERS},
                 ITEMS_P50: summing @ result.point[SELECTED],
                 **{f"own {name}": means.point[name] for name in OWN_BASELINES if name in means.point}}
    keep = np.concatenate([np.ones(len(hierarchy.levels), bool), scored])
    truth = summing @ actual
    n = len(hierarchy.levels)
    bands = reconciled.quantiles[:, :horizon]
    inside = (truth[:n] >= bands[..., 0]) & (truth[:n] <= bands[..., 2])  # the published totals' P10-P90
    for name, forecast in forecasts.items():
        for level in dict.fromkeys(levels):
            rows = keep & (levels == level)
            error = np.abs(truth[rows] - forecast[rows, :horizon]).sum()
            covered = ([inside[rows[:n]].sum(), inside[rows[:n]].size] if name == chosen and level != ITEM
                       else [0, 0])
            errors[(level, name)] = errors.get((level, name), np.zeros(4)) + [error, truth[rows].sum(), *covered]
    return reconciled.method


def _hierarchy_table(errors: dict[tuple[str, str], np.ndarray]) -> pd.DataFrame:
    """WAPE per level and forecast, against the best of the level's own simple forecasts (hindsight),
    and the P10-P90 coverage of the chosen reconciliation's totals (the published bands)."""
    table = pd.DataFrame([{"level": level, "forecast": name, "wape": error / units if units else np.nan,
                           "coverage_p10_p90": covered / cells if cells else np.nan}
                          for (level, name), (error, units, covered, cells) in errors.items()])
    own = table[table.forecast.isin([f"own {name}" for name in OWN_BASELINES])]
    table["vs_best_own_simple"] = table.wape / table.level.map(own.groupby("level").wape.min())
    order = {level: k for k, level in enumerate((*AGGREGATES, ITEM))}
    return table.sort_values(["level", "wape"], key=lambda c: c.map(order) if c.name == "level" else c,
                             kind="stable").reset_index(drop=True)


def backtest(dataset: Dataset, horizon: int = 12, freq: str = "W", by: str = "item", origins: int = 3,
             step: int | None = None, last_origin: str | pd.Timestamp | None = None, min_recent_sales: int = 0,
             n_jobs: int | None = None, spark=None, show_progress: bool = False) -> Backtest:
    """Rolling-origin backtest of the forecast and every baseline; see the module docstring.

    Origins are ``step`` periods apart (default ``horizon // 3``); the last one is ``last_origin``
    (a period start) or ``horizon`` periods before the end of the data."""
    check_request(horizon, freq, by)
    if origins < 1:
        raise ForecastInputError(f"origins must be at least 1, got {origins}")
    start_time = time.perf_counter()
    items = demand_panel(dataset, freq, "item")
    panel = demand_panel(dataset, freq, by) if by == "item,city_tier" else items
    step = step or max(1, horizon // 3)
    last = panel.n_periods - horizon
    if last_origin is not None:
        try:
            wanted = pd.Timestamp(last_origin)
        except ValueError:
            raise ForecastInputError(f"last origin {last_origin!r} is not a date (YYYY-MM-DD)") from None
        found = np.flatnonzero(panel.starts == wanted)
        if not len(found) or found[0] > last:
            raise ForecastInputError(f"last origin {last_origin} is not a period start with {horizon} periods of data "
                                     f"after it ({panel.starts[0].date()} to {panel.starts[last].date()})")
        last = int(found[0])
    cuts = [last - k * step for k in reversed(range(origins))]
    scores: dict[tuple[str, str], list] = {}  # (level, model) -> [(actual, quantiles, history) per origin]
    covered = []
    levels: dict[tuple[str, str], np.ndarray] = {}
    reconcilers = []
    unscored = tested = 0.0
    for cut in progress_bar(cuts, disable=not show_progress, unit="origin", desc="backtest"):
        history = panel.head(cut)
        window = panel.values[:, cut:cut + horizon]
        actual_all = window[panel.values[:, :cut].sum(axis=1) > 0]  # the rows of history, in its order
        scored = (history.values[:, -ACTIVE_WINDOW:] > 0).sum(axis=1) >= min_recent_sales
        unscored += window.sum() - actual_all[scored].sum()
        tested += window.sum()
        result = forecast_panel(items.head(cut), n_jobs, spark)
        if by == "item,city_tier":
            result = split_by_tier(result, history)
        else:
            reconcilers.append(_hierarchy_errors(result, actual_all, scored, levels))
        if result.horizon < horizon:
            raise ForecastInputError(f"the history before {panel.starts[cut].date()} can calibrate {result.horizon} "
                                     f"periods, fewer than the horizon {horizon}: use a later origin")
        merchants = history.series.merchant_id.to_numpy()
        labels, inverse = np.unique(merchants, return_inverse=True)
        merchant_actual = group_sums(actual_all, inverse, len(labels))
        for name, quantiles in result.quantiles.items():
            q = quantiles[:, :horizon]
            scores.setdefault(("series", name), []).append((actual_all[scored], q[scored], history.values[scored]))
            totals = aggregate(result, merchants, name)
            scores.setdefault(("merchant total", name), []).append(
                (merchant_actual, totals.quantiles[:, :horizon], totals.history))
        q = result.quantiles[SELECTED][scored, :horizon]
        covered.append((actual_all[scored] >= q[:, :, 0]) & (actual_all[scored] <= q[:, :, 2]))
    metrics = pd.DataFrame([{"level": level, "model": name, **fm.summarise(parts, panel.season)}
                            for (level, name), parts in scores.items()])
    best = metrics[metrics.model.isin(SIMPLE)].sort_values("wape").groupby("level", sort=False).head(1)
    metrics = pd.concat([metrics, best.assign(model=BEST_SIMPLE + " (" + best.model + ")")], ignore_index=True)
    metrics["vs_best_simple"] = metrics.wape / metrics.level.map(best.set_index("level").wape)
    metrics = metrics.sort_values(["level", "wape"], ascending=[False, True], kind="stable").reset_index(drop=True)
    step_coverage = np.concatenate(covered).mean(axis=0).tolist()
    return Backtest(horizon, freq, by, [panel.starts[c] for c in cuts], metrics, step_coverage,
                    unscored / tested if tested else 0.0, time.perf_counter() - start_time,
                    _hierarchy_table(levels) if levels else None, reconcilers or None)
