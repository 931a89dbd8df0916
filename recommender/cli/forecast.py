"""Commands on demand forecasts: forecast (with its HTML report), backtest, publish for the API."""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recommender.cli.commands import Group
from recommender.cli.options import add_file_options, file_dataset
from recommender.extras import require

commands = Group()


def _add_forecast_request(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--purchases", type=Path, required=True, help="purchases file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--catalog", type=Path, required=True, help="catalog file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--horizon", type=int, default=12, help="periods ahead, up to 26 weeks (default 12)")
    parser.add_argument("--freq", default="W", help="W (weekly, default) or D (daily)")
    parser.add_argument("--by", default="item", help="item (default), item,city_tier, or merchant (totals)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--backend", choices=("local", "spark"), default="local",
                        help="local: every method on this machine (default); spark: statsforecast's methods fitted on "
                             "Apache Spark, the same numbers (pip install .[spark], Java 17+)")
    parser.add_argument("--spark-master", default=None,
                        help="Spark master URL with --backend spark (default local[*]; e.g. spark://host:7077, yarn)")
    add_file_options(parser)


@contextmanager
def _forecast_spark(args: argparse.Namespace) -> Iterator:
    """The SparkSession of ``--backend spark`` (statsforecast's methods run on it), or None."""
    if args.backend != "spark":
        if args.spark_master:
            raise ValueError("--spark-master needs --backend spark")
        yield None
        return
    from recommender.spark import DEFAULT_MASTER, spark_session

    with spark_session(args.spark_master or DEFAULT_MASTER, app_name="recommender-forecast") as spark:
        yield spark


def _add_forecast(parser: argparse.ArgumentParser) -> None:
    _add_forecast_request(parser)
    parser.add_argument("--out", type=Path, required=True, help="forecast table (CSV, CSV.gz or Parquet)")
    parser.add_argument("--merchant", default=None, help="forecast only this merchant's items")
    parser.add_argument("--report", type=Path, default=None, help="directory for per-merchant HTML reports")


@commands.command("forecast", "demand forecast per item (x city tier) or merchant, P10/P50/P90", _add_forecast)
def run_forecast(args: argparse.Namespace) -> int:
    """Write the forecast table (and with ``--report`` the merchants' HTML reports)."""
    from dataclasses import replace

    from recommender.forecasting.calendar_features import PERIOD_DAYS
    from recommender.forecasting.hierarchy import reconcile_fit
    from recommender.forecasting.views import forecast, tiers_of, view
    from training.forecast import write_forecast

    if args.report:
        require("report", "forecast --report")
    dataset = file_dataset(args)

    with _forecast_spark(args) as spark:
        def forecast_by(by: str):
            return forecast(dataset, args.horizon, args.freq, by, merchant_id=args.merchant, spark=spark,
                            show_progress=not args.quiet)

        result = forecast_by(args.by)
        if args.report:  # the report needs the item fit (by item and by merchant fit items) and its tier split
            tiered = args.by == "item,city_tier"
            items = forecast_by("item") if tiered else view(result.result, "item", args.horizon, args.merchant)
            # the report's merchant totals are the published ones: the reconciled hierarchy's
            items = replace(items, reconciled=result.reconciled or reconcile_fit(items.result))
            tiers = result if tiered else tiers_of(items, dataset)
    path = write_forecast(result, args.out)
    print(f"{result.panel.n_series:,} series fitted ({result.result.horizon} periods calibrated), {args.horizon} "
          f"whole periods ahead from {result.starts[0].date()}: forecast written to {path}")
    if result.lead:
        panel = result.panel
        print(f"the data stops inside the period of {result.result.starts[0].date()}: its rows come first, as sales "
              f"so far ({panel.current_days} of {PERIOD_DAYS[panel.freq]} days, column sold_so_far) plus the "
              f"forecast of its remaining days")
    if args.report:
        from training.forecast_report import write_forecast_report

        report = write_forecast_report(items, tiers, args.report, dataset.catalog, show_progress=not args.quiet)
        print(f"report written to {report}")
    return 0


def _add_forecast_backtest(parser: argparse.ArgumentParser) -> None:
    _add_forecast_request(parser)
    parser.add_argument("--origins", type=int, default=3, help="forecast origins (default 3)")
    parser.add_argument("--step", type=int, default=None, help="periods between origins (default horizon // 3)")
    parser.add_argument("--last-origin", default=None, metavar="DATE",
                        help="the last origin, a period start such as 2011-10-10 (default: horizon periods before the "
                             "end of the data)")
    parser.add_argument("--min-recent-sales", type=int, default=0, metavar="N",
                        help="score only series sold in at least N of the 20 periods before each origin (default 0)")


@commands.command("forecast-backtest", "rolling-origin backtest of the forecast against every simple baseline",
                  _add_forecast_backtest)
def run_forecast_backtest(args: argparse.Namespace) -> int:
    """Print the rolling-origin backtest's summary."""
    from recommender.forecasting.backtest import backtest

    dataset = file_dataset(args)
    with _forecast_spark(args) as spark:
        result = backtest(dataset, args.horizon, args.freq, args.by, origins=args.origins, step=args.step,
                          last_origin=args.last_origin, min_recent_sales=args.min_recent_sales, spark=spark,
                          show_progress=not args.quiet)
    print(result.summary())
    return 0


def _add_forecast_publish(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--purchases", type=Path, required=True, help="purchases file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--catalog", type=Path, required=True, help="catalog file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--out", type=Path, required=True, help="forecast directory to write (replaced atomically)")
    parser.add_argument("--horizon", type=int, default=None,
                        help="periods ahead (default the longest served: 26 weeks or 182 days)")
    parser.add_argument("--freq", default="W", help="W (weekly, default) or D (daily)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_file_options(parser)


@commands.command("forecast-publish", "forecast every merchant once, for the serving API (forecast directory)",
                  _add_forecast_publish)
def run_forecast_publish(args: argparse.Namespace) -> int:
    """Write the forecast directory the server's merchant route serves."""
    from recommender.forecasting.publish import publish_forecasts

    dataset = file_dataset(args)
    manifest = publish_forecasts(dataset, args.out, args.horizon, args.freq,
                                 sources={"purchases": args.purchases, "catalog": args.catalog},
                                 show_progress=not args.quiet)
    merchants = manifest["merchants"].values()
    sold = sum(entry["items_sold"] > 0 for entry in merchants)
    levels = ", ".join(f"{level} {entry['series']:,}" for level, entry in manifest["levels"].items())
    print(f"{sold:,} of {len(merchants):,} merchants have sales; series: {levels}; {manifest['horizon']} periods "
          f"({manifest['freq']}) from {manifest['period_starts'][0]}: forecasts published to {args.out}")
    current = manifest["current_period"]
    if current:
        print(f"current period {current['period_start']} ({current['days_observed']} of {current['days']} days in the "
              f"data): published as sales so far plus the forecast of its remaining days")
    return 0
