"""Benchmark: demand-forecast speed and backtest accuracy against seasonal naive and statsforecast.

    python bench/forecast.py                   # demo marketplace and the UCI data
    python bench/forecast.py --data demo       # one of them
    python bench/forecast.py --sample 300      # fewer series for statsforecast (default 600)

Needs statsforecast 2.x, a benchmark-only dependency that is not in pyproject.toml: every
statsforecast 2.x declares ``pandas<3`` while the project needs pandas 3, so pip cannot resolve
them together. Its model classes only need numpy, so install it without letting pip downgrade
pandas::

    .venv/bin/pip install "statsforecast>=2.0" && .venv/bin/pip install "pandas>=3.0"

For each data set (the demo marketplace generated to a temporary directory, and the UCI Online
Retail data imported from ``/work/shared/data/uci_online_retail`` to another), each step in a
fresh process (:func:`bench._process.run`):

* **speed**: the whole ``forecast`` by item (panel, every method fitted and calibrated, selection),
  as ``recommender forecast`` runs it, in series per second;
* **backtest**: rolling-origin, horizon 12 weeks, 3 origins 4 weeks apart (as
  ``recommender forecast-backtest``); at each origin every method sees the same panel
  (:func:`recommender.features.demand.demand_panel` cut at the origin) and is scored on the same
  weeks: our selected forecast and seasonal naive (both from one
  :func:`recommender.forecasting.forecast_panel` call, timed together), and statsforecast's
  ``AutoETS`` (non-seasonal: no history has two years of weeks before an origin; P10-P90 from its
  ``level=[80]`` interval) and ``CrostonOptimized`` (a point forecast: statsforecast gives it no
  interval, so no coverage). statsforecast fits one series at a time (a few ms each), so it runs on
  ``--sample`` series drawn with a fixed seed from those sold before the origin; every method's
  metrics are printed on that sample, and ours and seasonal naive's also on all series.

Printed: WAPE, MASE, bias, P10-P90 coverage per method, seconds per method (statsforecast's
scaled to all series), and WAPE relative to seasonal naive measured in the same run.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._process import run  # noqa: E402

HORIZON = 12
ORIGINS = 3
STEP = HORIZON // 3
SEED = 0
OURS = ("selected", "seasonal_naive")


def _require_statsforecast() -> None:
    try:
        import statsforecast  # noqa: F401
    except ImportError:
        sys.exit("bench/forecast.py needs statsforecast 2.x (benchmark-only): "
                 ".venv/bin/pip install 'statsforecast>=2.0' && .venv/bin/pip install 'pandas>=3.0'")


def _speed(queue, paths):
    from recommender.forecasting import forecast
    from recommender.loaders import load_dataset

    dataset = load_dataset(*paths)
    start = time.perf_counter()
    result = forecast(dataset, HORIZON)
    seconds = time.perf_counter() - start
    queue.put({"series": result.result.panel.n_series, "seconds": seconds})


def _statsforecast(values: np.ndarray) -> tuple[dict, dict]:
    """AutoETS (P10, mean, P90) and CrostonOptimized (mean) of each row's history; and seconds per method."""
    from statsforecast.models import AutoETS, CrostonOptimized

    n = len(values)
    ets, croston, seconds = np.empty((n, HORIZON, 3)), np.empty((n, HORIZON, 3)), {}
    start = time.perf_counter()
    for i, y in enumerate(values):
        out = AutoETS(season_length=1).forecast(y=y, h=HORIZON, level=[80])
        ets[i] = np.stack([out["lo-80"], out["mean"], out["hi-80"]], axis=1)
    seconds["statsforecast AutoETS"] = time.perf_counter() - start
    start = time.perf_counter()
    for i, y in enumerate(values):
        croston[i] = CrostonOptimized().forecast(y=y, h=HORIZON)["mean"][:, None]
    seconds["statsforecast CrostonOptimized"] = time.perf_counter() - start
    quantiles = {"statsforecast AutoETS": np.maximum(ets, 0.0), "statsforecast CrostonOptimized": croston}
    return quantiles, seconds


def _backtest(queue, paths, sample):
    from recommender import forecast_metrics as fm
    from recommender.features.demand import demand_panel
    from recommender.forecasting import forecast_panel
    from recommender.loaders import load_dataset

    panel = demand_panel(load_dataset(*paths), "W", "item")
    cuts = [panel.n_periods - HORIZON - k * STEP for k in reversed(range(ORIGINS))]
    rng = np.random.default_rng(SEED)
    parts = {}  # (scope, method) -> [(actual, quantiles, history) per origin]
    seconds = {}
    series = []
    for cut in cuts:
        history = panel.head(cut)
        sold = panel.values[:, :cut].sum(axis=1) > 0
        actual = panel.values[sold, cut:cut + HORIZON]
        picked = np.sort(rng.choice(history.n_series, size=min(sample, history.n_series), replace=False))
        series.append((history.n_series, len(picked)))
        start = time.perf_counter()
        result = forecast_panel(history, HORIZON)
        seconds["selected + seasonal naive (one run)"] = (seconds.get("selected + seasonal naive (one run)", 0.0)
                                                         + time.perf_counter() - start)
        quantiles = {name: result.quantiles[name] for name in OURS}
        for name, q in quantiles.items():
            parts.setdefault(("all", name), []).append((actual, q, history.values))
        theirs, their_seconds = _statsforecast(history.values[picked])
        for name, s in their_seconds.items():
            seconds[name] = seconds.get(name, 0.0) + s * history.n_series / len(picked)
        for name, q in {**{k: v[picked] for k, v in quantiles.items()}, **theirs}.items():
            parts.setdefault(("sample", name), []).append((actual[picked], q, history.values[picked]))
    metrics = {key: fm.summarise(value, panel.season) for key, value in parts.items()}
    for name in ("statsforecast CrostonOptimized",):
        metrics[("sample", name)]["coverage_p10_p90"] = float("nan")  # a point forecast: no interval
    queue.put({"metrics": metrics, "seconds": seconds, "series": series,
               "origins": [str(panel.starts[c].date()) for c in cuts]})


def _data_sets(which: str, tmp: Path) -> dict:
    paths = {}
    if which in ("demo", "both"):
        from recommender.demo_marketplace import write_demo_marketplace

        written = write_demo_marketplace(tmp / "demo")
        paths["demo marketplace"] = (written["purchases"], written["catalog"])
    if which in ("uci", "both"):
        from recommender.importers.uci_online_retail import default_source, import_online_retail

        import_online_retail(default_source(), tmp / "uci")
        paths["UCI Online Retail"] = (tmp / "uci" / "purchases.csv.gz", tmp / "uci" / "catalog.csv")
    return paths


def _report(name: str, speed: dict, backtest: dict) -> None:
    print(f"\n== {name}: {speed['series']:,} series by item, horizon {HORIZON} weeks")
    print(f"forecast (whole job): {speed['seconds']:.1f} s, {speed['series'] / speed['seconds']:,.0f} series/s")
    all_series = ", ".join(f"{n:,}" for n, _ in backtest["series"])
    sampled = ", ".join(f"{k:,}" for _, k in backtest["series"])
    print(f"backtest origins {', '.join(backtest['origins'])}; series per origin {all_series}; "
          f"statsforecast sample (seed {SEED}) {sampled}")
    print(f"{'scope':8}{'method':34}{'WAPE':>7}{'MASE':>7}{'bias':>8}{'P10-P90':>9}{'vs naive':>10}")
    for scope in ("all", "sample"):
        naive = backtest["metrics"][(scope, "seasonal_naive")]["wape"]
        for (where, method), m in backtest["metrics"].items():
            if where != scope:
                continue
            print(f"{scope:8}{method:34}{m['wape']:7.3f}{m['mase']:7.2f}{m['bias']:+8.3f}"
                  f"{m['coverage_p10_p90']:9.3f}{m['wape'] / naive:10.2f}")
    print("seconds over the origins (statsforecast's scaled from the sample to all series):")
    for method, s in backtest["seconds"].items():
        print(f"  {method:40}{s:8.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("demo", "uci", "both"), default="both")
    parser.add_argument("--sample", type=int, default=600, help="series per origin for statsforecast (default 600)")
    args = parser.parse_args(argv)
    _require_statsforecast()
    with tempfile.TemporaryDirectory() as tmp:
        for name, paths in _data_sets(args.data, Path(tmp)).items():
            _report(name, run(_speed, paths), run(_backtest, paths, args.sample))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
