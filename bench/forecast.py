"""Benchmark: demand-forecast accuracy against every simple baseline, and speed against statsforecast alone.

    python bench/forecast.py                         # the demo marketplace and the UCI data
    python bench/forecast.py --data uci              # one of them
    python bench/forecast.py --extra cj=PURCHASES,CATALOG   # and sales histories of another retailer

For each data set (the demo marketplace generated to a temporary directory, the UCI Online Retail
data imported from ``../shared/data/uci_online_retail`` to another, each ``--extra`` as given),
each step in a fresh process (:func:`bench._process.run`):

* **backtest**, as ``recommender forecast-backtest --horizon 8 --origins 1 --min-recent-sales 4``:
  one origin, 8 weeks scored, items sold in at least 4 of the 20 weeks before it; on UCI the
  origin is Monday 2011-10-10 (the pre-Christmas ramp, the issue's measurement), elsewhere 8 weeks
  before the end of the data. Every simple baseline (naive, seasonal naive, moving averages of 4,
  8 and 12 weeks, AutoETS, CrostonOptimized, Croston-SBA, TSB, ADIDA, IMAPA) comes from the same
  fit as the forecast, on the same series and weeks, and "best simple" is the best of them with
  hindsight. Printed: WAPE, MASE, bias, P10-P90 coverage per method and per horizon step.
* **speed**: the whole ``forecast-publish`` (the item fit: every candidate on the validation
  windows and the whole history, selection, bands; the item x city tier split, totals, the
  files), next to the baseline measured in the same run on the same panels: one statsforecast
  call per level (items, items x city tiers) with the simple methods alone, as a user of
  statsforecast would run them for both levels; each call's time is printed.
  ``--only speed`` skips the backtests.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._process import run

HORIZON = 8
MIN_RECENT_SALES = 4
UCI_ORIGIN = "2011-10-10"


def _backtest(queue, paths, last_origin):
    from recommender.forecasting.backtest import backtest
    from recommender.loaders import load_dataset

    result = backtest(load_dataset(*paths), HORIZON, "W", "item", origins=1, last_origin=last_origin,
                      min_recent_sales=MIN_RECENT_SALES)
    queue.put(result.summary())


def _speed(queue, paths, out):
    from recommender.forecasting.methods import simple_forecasts
    from recommender.forecasting.panel import demand_panel
    from recommender.forecasting.publish import publish_forecasts
    from recommender.forecasting.selection import fit_horizon
    from recommender.loaders import load_dataset

    dataset = load_dataset(*paths)
    panels = [demand_panel(dataset, "W", level) for level in ("item", "item,city_tier")]
    baselines = []
    for panel in panels:
        start = time.perf_counter()
        simple_forecasts(panel, fit_horizon(panel.n_periods, "W", panel.lead))
        baselines.append(time.perf_counter() - start)
    start = time.perf_counter()
    publish_forecasts(dataset, out)
    ours = time.perf_counter() - start
    queue.put({"series": [panel.n_series for panel in panels], "periods": panels[0].n_periods,
               "baselines": baselines, "ours": ours, "load": os.getloadavg()[0]})


def _data_sets(which: str, extra: list[str], tmp: Path) -> dict:
    paths: dict[str, tuple[tuple, str | None]] = {}
    if which in ("demo", "both"):
        from recommender.demo_marketplace import write_demo_marketplace

        written = write_demo_marketplace(tmp / "demo")
        paths["demo marketplace"] = ((written["purchases"], written["catalog"]), None)
    if which in ("uci", "both"):
        from recommender.importers.uci_online_retail import default_source, import_online_retail

        import_online_retail(default_source(), tmp / "uci")
        paths["UCI Online Retail"] = ((tmp / "uci" / "purchases.csv.gz", tmp / "uci" / "catalog.csv"), UCI_ORIGIN)
    for entry in extra:
        name, _, files = entry.partition("=")
        purchases, _, catalog = files.partition(",")
        paths[name] = ((Path(purchases), Path(catalog)), None)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("demo", "uci", "both", "none"), default="both")
    parser.add_argument("--only", choices=("backtest", "speed"), default=None, help="one of the two measurements")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=PURCHASES,CATALOG",
                        help="another data set in the project's format (repeatable)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (paths, origin) in _data_sets(args.data, args.extra, Path(tmp)).items():
            print(f"\n== {name}")
            if args.only != "speed":
                print(f"backtest, horizon {HORIZON} weeks, items sold in {MIN_RECENT_SALES}+ of the 20 weeks "
                      f"before the origin")
                print(run(_backtest, paths, origin))
            if args.only == "backtest":
                continue
            speed = run(_speed, paths, Path(tmp) / f"published-{len(name)}")
            items, tiers = speed["series"]
            baseline = sum(speed["baselines"])
            print(f"speed on {items:,} items and {tiers:,} items x tiers, {speed['periods']} weeks (load average "
                  f"{speed['load']:.1f} at the end): forecast-publish (whole job) {speed['ours']:.1f} s; baseline, "
                  f"statsforecast's simple methods alone, one call per panel: {baseline:.1f} s "
                  f"(items {speed['baselines'][0]:.1f} s, items x tiers {speed['baselines'][1]:.1f} s); "
                  f"x{speed['ours'] / baseline:.1f} the baseline's time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
