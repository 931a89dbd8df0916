"""The ``recommender`` command line: one sub-command per job.

Each sub-command is a function ``run_<name>(args) -> int`` registered in :data:`COMMANDS`
with its arguments; heavy imports happen inside the functions so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from recommender.contract import UNKNOWN_ITEM_POLICIES, ContractError
from recommender.signals import interrupt_on_sigterm

if TYPE_CHECKING:
    from serving.settings import ServingSettings

log = logging.getLogger("recommender")


def run_demo_data(args: argparse.Namespace) -> int:
    from recommender.demo_marketplace import write_demo_marketplace

    paths = write_demo_marketplace(args.out, buyers=args.buyers, items=args.items, seed=args.seed,
                                   purchases=args.purchases)
    for name, path in paths.items():
        log.info("wrote %s: %s", name, path)
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from recommender.loaders import load_dataset

    dataset = load_dataset(args.purchases, args.catalog, unknown_items=args.unknown_items)
    print(dataset.summary())
    return 0


def run_import_uci(args: argparse.Namespace) -> int:
    from recommender.importers.uci_online_retail import default_source, import_online_retail

    report = import_online_retail(args.source or default_source(), args.out, compress=not args.no_compress)
    print(report.summary())
    return 0


def _training_data(args: argparse.Namespace):
    """The dataset of ``--purchases`` or ``--from-store``, with ``--catalog``."""
    from recommender.loaders import load_dataset, load_store_dataset

    if args.from_store:
        return load_store_dataset(args.from_store, args.catalog, unknown_items=args.unknown_items)
    return load_dataset(args.purchases, args.catalog, unknown_items=args.unknown_items)


def _store_position(url: str | None) -> dict | None:
    """The store's URL (without its password) and newest event position, taken before the training
    reads it (a server replays the events after it; one read twice is harmless)."""
    if not url:
        return None
    from recommender.store import EventStore

    store = EventStore.open(url, migrate=False)
    try:
        return store.position()
    finally:
        store.close()


def run_train(args: argparse.Namespace) -> int:
    from recommender.artifacts import save_model_directory
    from training.train import manifest_fields, summary_table, train

    config = _config(args)
    if args.engine == "spark" and args.from_store:
        raise ValueError("--from-store trains on one machine: leave out --engine spark")
    store = _store_position(args.from_store)
    if args.engine == "spark":
        from training.spark_train import train_with_spark

        result = train_with_spark(args.purchases, args.catalog, config, master=args.spark_master,
                                  checkpoint_dir=args.spark_checkpoint_dir, unknown_items=args.unknown_items,
                                  show_progress=not args.quiet)
    else:
        if args.spark_master or args.spark_checkpoint_dir:
            raise ValueError("--spark-master and --spark-checkpoint-dir need --engine spark")
        dataset = _training_data(args)
        log.info("loaded %s", dataset.summary().replace("\n", "; "))
        result = train(dataset, config, show_progress=not args.quiet)
    manifest = save_model_directory(args.out, result.engine, manifest_fields(
        result, config, {"purchases": args.purchases, "catalog": args.catalog}, store=store))
    print(summary_table(result, result.config))
    print(f"model {manifest['model_version']} written to {args.out}")
    return 0


def run_recommend(args: argparse.Namespace) -> int:
    from recommender.artifacts import load_model_directory
    from recommender.engine import RecommendationEngine
    from training.recommend import write_recommendations

    engine, manifest = load_model_directory(args.model, RecommendationEngine)
    counts = write_recommendations(engine, args.users, args.out, args.k, include_purchased=args.include_purchased,
                                   niche=args.niche, threads=args.threads, show_progress=not args.quiet,
                                   reasons=args.reasons)
    print(f"model {manifest['model_version']}: {counts['buyers']:,} buyers ({counts['cold_start']:,} unknown, "
          f"given the cold-start ranking), {counts['rows']:,} rows written to {args.out}")
    return 0


def run_buy_again(args: argparse.Namespace) -> int:
    from recommender.artifacts import load_model_directory
    from recommender.engine import RecommendationEngine
    from training.recommend import write_buy_again

    engine, manifest = load_model_directory(args.model, RecommendationEngine)
    counts = write_buy_again(engine, args.users, args.out, args.k)
    print(f"model {manifest['model_version']}: {counts['buyers']:,} buyers ({counts['with_items']:,} with items to "
          f"buy again), {counts['rows']:,} rows written to {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate
    from training.report import write_report
    from training.search import scoreboard_table

    config = _config(args)
    dataset = _training_data(args)
    evaluation = evaluate(dataset, config, test_days=args.test_days, k=args.k, show_progress=not args.quiet)
    if evaluation.validation.get("search"):
        print("model search on the validation windows (inside the training days):")
        print(scoreboard_table(evaluation.validation["search"]) + "\n")
    print(evaluation.table())
    if args.report:
        print(f"report written to {write_report(evaluation, args.report)}")
    return 0


def run_evaluate_buy_again(args: argparse.Namespace) -> int:
    from recommender.loaders import load_dataset
    from training.buy_again import evaluate_buy_again

    dataset = load_dataset(args.purchases, args.catalog, unknown_items=args.unknown_items)
    print(evaluate_buy_again(dataset, test_days=args.test_days, k=args.k, show_progress=not args.quiet).table())
    return 0


def run_tune(args: argparse.Namespace) -> int:
    from training.tune import tune

    config = _config(args)
    dataset = _training_data(args)
    result = tune(dataset, config, budget_minutes=args.budget, test_days=args.test_days,
                  show_progress=not args.quiet)
    result.best_config.save(args.out)
    print(result.table())
    print(f"best config written to {args.out}; train with: recommender train ... --config {args.out}")
    return 0


def run_retrain(args: argparse.Namespace) -> int:
    import time

    from serving.settings import AdminKeySettings
    from training.retrain import retrain_once

    config = _config(args)
    admin_key = AdminKeySettings().admin_key  # RECOMMENDER_ADMIN_KEY, read once
    while True:
        try:
            record = retrain_once(args.store, args.catalog, args.models_dir, server=args.server,
                                  recent_days=args.recent_days, margin=args.margin, config=config,
                                  show_progress=not args.quiet,
                                  admin_key=admin_key.get_secret_value() if admin_key is not None else "")
            print(f"{record.status}: {record.model_version} {record.model_dir} ({record.reason})")
        except Exception as exc:  # noqa: BLE001 (a failed round leaves serving untouched; --every tries again)
            if args.every is None:
                raise
            log.warning("retraining failed, serving untouched; next round in %.0f s: %s", args.every, exc)
        if args.every is None:
            return 0
        time.sleep(args.every)


def _duration(text: str) -> float:
    """Seconds of ``30s``, ``15m``, ``1h`` or a plain number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration such as 30s, 15m or 1h: {text!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"the interval must be positive, got {text!r}")
    return seconds


def _add_retrain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, metavar="URL", help="event store to train from")
    parser.add_argument("--catalog", type=Path, required=True, help="catalog file (the store's items are added)")
    parser.add_argument("--models-dir", type=Path, required=True, help="directory the new model directories go in")
    parser.add_argument("--server", default=None, metavar="URL",
                        help="server whose admin reload serves a promoted model, e.g. http://127.0.0.1:8000 "
                             "(admin key from RECOMMENDER_ADMIN_KEY); without it, models are only registered")
    parser.add_argument("--every", type=_duration, default=None, metavar="INTERVAL",
                        help="retrain every INTERVAL (30m, 1h, ...) until stopped; default: once")
    parser.add_argument("--recent-days", type=float, default=7.0,
                        help="days held out to compare the candidate with the serving model (default 7)")
    parser.add_argument("--margin", type=float, default=0.0,
                        help="NDCG@10 the candidate must gain over the serving model to be promoted (default 0)")
    parser.add_argument("--config", type=Path, default=None, help="training config (JSON or TOML)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_budget(parser, "as train's")


def run_serve(args: argparse.Namespace) -> int:
    from recommender.artifacts import read_manifest
    from serving.server import serve

    settings = _serve_settings(args)
    manifest = read_manifest(settings.model_dir)  # a clear error now rather than in every worker
    _check_forecasts(settings)
    shown = _migrate_store(settings.store.get_secret_value())
    base = f"http://{settings.host}:{settings.port}"
    print(f"serving model {manifest['model_version']} on {base} with {settings.workers} worker process(es) "
          f"(API docs: {base}/docs)")
    print(f"sample request: curl '{base}/v1/users/<user_id>/recommendations?k=5'")
    print(f"events go to {shown}: curl -H 'X-API-Key: <ingest key>' -H 'Content-Type: application/json' -d "
          f"'{{\"events\": [{{\"event_id\": \"e-1\", \"user_id\": \"<user_id>\", \"item_id\": "
          f"\"<item_id>\", \"type\": \"purchase\"}}]}}' {base}/v1/events")
    status = serve(settings)
    print("stopped" if status == 0 else f"stopped: a worker failed (status {status})", file=sys.stderr)
    return status


def _serve_settings(args: argparse.Namespace) -> ServingSettings:
    """The server's settings: the flags given over the environment's (:mod:`serving.settings`), the
    paths made absolute, the event store defaulting to ``events.sqlite3`` next to the model directory."""
    from pydantic import SecretStr

    from serving.settings import ServingSettings

    settings = ServingSettings(**{name: value for name, value in vars(args).items()
                                  if name in ServingSettings.model_fields and value is not None})
    model_dir = settings.model_dir.resolve()
    paths = {name: path.resolve() for name in ("forecasts_dir", "merchant_tokens")
             if (path := getattr(settings, name)) is not None}
    store = settings.store or SecretStr(f"sqlite:///{model_dir.parent / 'events.sqlite3'}")
    return settings.model_copy(update={"model_dir": model_dir, **paths, "store": store})


def _migrate_store(url: str) -> str:
    """Open the event store once (migrating it to the newest schema, before any worker starts); the
    store shown without its password."""
    from recommender.store import EventStore

    store = EventStore.open(url)
    shown = store.display_url
    store.close()
    return shown


def _check_forecasts(settings: ServingSettings) -> None:
    """Load the forecasts and the merchant tokens to serve, so a bad directory or token file stops
    the server now."""
    from serving.forecasts import load_forecast_state

    forecasts, _ = load_forecast_state(settings.forecasts_dir, settings.merchant_tokens)
    if forecasts is not None:
        print(f"merchant forecasts published {forecasts.manifest['created_at']}: curl -H 'Authorization: Bearer "
              f"<token>' 'http://{settings.host}:{settings.port}/v1/merchants/<merchant_id>/forecast?horizon=12"
              "&by=item'")


@contextmanager
def _forecast_engine(args: argparse.Namespace) -> Iterator:
    """The SparkSession of ``--engine spark`` (statsforecast's methods run on it), or None."""
    if args.engine != "spark":
        if args.spark_master:
            raise ValueError("--spark-master needs --engine spark")
        yield None
        return
    from recommender.spark import DEFAULT_MASTER, spark_session

    with spark_session(args.spark_master or DEFAULT_MASTER, app_name="recommender-forecast") as spark:
        yield spark


def run_forecast(args: argparse.Namespace) -> int:
    from recommender.forecasting import forecast, view
    from recommender.loaders import load_dataset
    from training.forecast import write_forecast

    dataset = load_dataset(args.purchases, args.catalog, unknown_items=args.unknown_items)

    with _forecast_engine(args) as spark:
        def forecast_by(by: str):
            return forecast(dataset, args.horizon, args.freq, by, merchant_id=args.merchant, spark=spark,
                            show_progress=not args.quiet)

        result = forecast_by(args.by)
        if args.report:  # the report needs the item fit (by item and by merchant fit items) and the tier fit
            tiered = args.by == "item,city_tier"
            items = forecast_by("item") if tiered else view(result.result, "item", args.horizon, args.merchant)
            tiers = result if tiered else forecast_by("item,city_tier")
    path = write_forecast(result, args.out)
    print(f"{result.panel.n_series:,} series fitted ({result.result.horizon} periods calibrated), {args.horizon} "
          f"periods ahead: forecast written to {path}")
    if args.report:
        from training.forecast_report import write_forecast_report

        report = write_forecast_report(items, tiers, args.report, dataset.catalog, show_progress=not args.quiet)
        print(f"report written to {report}")
    return 0


def run_forecast_backtest(args: argparse.Namespace) -> int:
    from recommender.forecasting import backtest
    from recommender.loaders import load_dataset

    dataset = load_dataset(args.purchases, args.catalog, unknown_items=args.unknown_items)
    with _forecast_engine(args) as spark:
        result = backtest(dataset, args.horizon, args.freq, args.by, origins=args.origins, step=args.step,
                          last_origin=args.last_origin, min_recent_sales=args.min_recent_sales, spark=spark,
                          show_progress=not args.quiet)
    print(result.summary())
    return 0


def run_forecast_publish(args: argparse.Namespace) -> int:
    from recommender.forecasting.published import publish_forecasts
    from recommender.loaders import load_dataset

    dataset = load_dataset(args.purchases, args.catalog, unknown_items=args.unknown_items)
    manifest = publish_forecasts(dataset, args.out, args.horizon, args.freq,
                                 sources={"purchases": args.purchases, "catalog": args.catalog},
                                 show_progress=not args.quiet)
    merchants = manifest["merchants"].values()
    sold = sum(entry["items_sold"] > 0 for entry in merchants)
    levels = ", ".join(f"{level} {entry['series']:,}" for level, entry in manifest["levels"].items())
    print(f"{sold:,} of {len(merchants):,} merchants have sales; series: {levels}; {manifest['horizon']} periods "
          f"({manifest['freq']}) from {manifest['period_starts'][0]}: forecasts published to {args.out}")
    return 0


def run_merchant_token(args: argparse.Namespace) -> int:
    from recommender.merchant_tokens import issue_token

    token = issue_token(args.tokens, args.merchant)
    print(f"token for merchant {args.merchant} (shown once; only its SHA-256 is stored in {args.tokens}):")
    print(token)
    return 0


def _add_demo_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="directory for purchases.csv and catalog.csv")
    parser.add_argument("--buyers", type=int, default=20_000, help="number of buyers (default 20,000)")
    parser.add_argument("--items", type=int, default=2_000, help="number of catalog items (default 2,000)")
    parser.add_argument("--purchases", type=int, default=None,
                        help="number of purchase lines (default: about 20 per buyer)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files")


def _add_validate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--purchases", type=Path, required=True, help="purchases file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--catalog", type=Path, default=None, help="catalog file (CSV, CSV.gz or Parquet)")
    _add_unknown_items(parser)


def _add_unknown_items(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--unknown-items", choices=UNKNOWN_ITEM_POLICIES, default="drop",
                        help="purchases of items missing from the catalog: drop them (default) "
                             "or add the items to the catalog")


def _add_import_uci(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=None,
                        help="UCI Online Retail CSV (default: shared/data/uci_online_retail/online_retail.csv.gz "
                             "next to the project's directory)")
    parser.add_argument("--out", type=Path, required=True, help="directory for purchases.csv.gz and catalog.csv")
    parser.add_argument("--no-compress", action="store_true", help="write purchases.csv instead of .csv.gz")


def _add_inputs(parser: argparse.ArgumentParser, spark: bool = False) -> None:
    """Arguments every training-side command takes: the data, a config, progress, policies
    (``spark``: the command has ``--engine spark``, which reads more than files)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--purchases", type=_location if spark else Path,
                        help="purchases file (CSV, CSV.gz or Parquet" +
                             ("; with --engine spark, anything Spark reads)" if spark else ")"))
    source.add_argument("--from-store", metavar="URL", default=None,
                        help="the purchases of an event store (sqlite:///PATH or postgresql://USER@HOST/DB), net of "
                             "returns, instead of a file")
    parser.add_argument("--catalog", type=Path, required=True, help="catalog file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--config", type=Path, default=None, help="training config (JSON or TOML), e.g. from tune")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_unknown_items(parser)


def _config(args: argparse.Namespace):
    """The training config of ``--config`` (default: search the model), with ``--budget`` applied."""
    from training.config import TrainConfig

    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    budget = getattr(args, "budget", None)
    if budget is not None:
        config = config.replaced("--budget", budget_minutes=budget)
    return config


def _add_budget(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--budget", type=float, default=None, metavar="MINUTES",
                        help=f"time for the model search, in minutes (default: {default})")


def _location(text: str) -> Path | str:
    """A local path, or a URL (``hdfs://``, ``s3a://``, ...) kept as text, which Path would mangle."""
    return text if "://" in text else Path(text)


def _add_train(parser: argparse.ArgumentParser) -> None:
    _add_inputs(parser, spark=True)
    _add_budget(parser, "scaled to the data: 20 s up to 3.3M purchase lines, then 6 s per million")
    parser.add_argument("--out", type=Path, required=True, help="model directory to write (replaced atomically)")
    parser.add_argument("--engine", choices=("local", "spark"), default="local",
                        help="local: in memory on this machine (default); spark: purchases read, aggregated and "
                             "ALS fitted on Apache Spark (pip install .[spark], Java 17+)")
    parser.add_argument("--spark-master", default=None,
                        help="Spark master URL with --engine spark (default local[*]; e.g. spark://host:7077, yarn)")
    parser.add_argument("--spark-checkpoint-dir", default=None,
                        help="ALS checkpoint directory with --engine spark (default: a temporary local directory; "
                             "on a cluster, a path every node reaches, e.g. hdfs://...)")


def _add_recommend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model directory written by train")
    parser.add_argument("--users", type=Path, required=True, help="file with a user_id column (CSV or Parquet)")
    parser.add_argument("--out", type=Path, required=True, help="output: user_id,rank,item_id,score (CSV or Parquet)")
    parser.add_argument("--k", type=int, default=20, help="recommendations per buyer (default 20)")
    parser.add_argument("--include-purchased", action="store_true", help="keep items the buyer already bought")
    parser.add_argument("--niche", type=float, default=None,
                        help="niche knob from 0 (pure relevance) to 1 (default: the model's)")
    parser.add_argument("--threads", type=int, default=2, help="scoring threads (default 2)")
    parser.add_argument("--reasons", action="store_true",
                        help="add a reason column (\"bought by buyers who bought ...\"), as the API gives")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_test_days(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--test-days", type=float, default=30,
                        help="days at the end held out as the test split (default 30)")


def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    _add_inputs(parser)
    _add_test_days(parser)
    parser.add_argument("--k", type=int, default=10, help="list length for the metrics (default 10)")
    parser.add_argument("--report", type=Path, default=None, help="directory for an HTML report with plots")
    _add_budget(parser, "as train")


def _add_buy_again(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model directory written by train")
    parser.add_argument("--users", type=Path, required=True, help="CSV or Parquet file with a user_id column")
    parser.add_argument("--k", type=int, default=10, help="items per buyer (default 10)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output file: user_id,rank,item_id,score,reason (CSV, or Parquet by extension)")


def _add_evaluate_buy_again(parser: argparse.ArgumentParser) -> None:
    _add_validate(parser)
    parser.add_argument("--test-days", type=float, default=28,
                        help="days at the end held out as the test split (default 28)")
    parser.add_argument("--k", type=int, default=10, help="list length for the metrics (default 10)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_tune(parser: argparse.ArgumentParser) -> None:
    _add_inputs(parser)
    _add_test_days(parser)
    _add_budget(parser, "four times train's")
    parser.add_argument("--out", type=Path, required=True, help="where to write the best config (JSON)")


def _int_in(low: int, high: int):
    """An argparse type: an integer from ``low`` to ``high``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value
    return parse


def _add_serve(parser: argparse.ArgumentParser) -> None:
    # each flag's dest is its field of serving.settings.ServingSettings; a flag not given (None) leaves the
    # field to its RECOMMENDER_* variable, else its default
    parser.add_argument("--model", dest="model_dir", type=Path, required=True, help="model directory written by train")
    parser.add_argument("--forecasts", dest="forecasts_dir", type=Path, default=None,
                        help="forecast directory written by forecast-publish (serves the merchant forecast route; "
                             "default: RECOMMENDER_FORECASTS_DIR)")
    parser.add_argument("--merchant-tokens", type=Path, default=None,
                        help="merchant token file written by merchant-token (authenticates that route; default: "
                             "RECOMMENDER_MERCHANT_TOKENS)")
    parser.add_argument("--store", default=None,
                        help="event store for POST /v1/events: sqlite:///PATH or postgresql://USER@HOST/DB (default: "
                             "RECOMMENDER_STORE, else events.sqlite3 next to the model directory)")
    parser.add_argument("--host", default=None, help="address to listen on (default RECOMMENDER_HOST, else 127.0.0.1)")
    parser.add_argument("--port", type=_int_in(1, 65535), default=None,
                        help="port (default RECOMMENDER_PORT, else 8000)")
    parser.add_argument("--workers", type=_int_in(1, 64), default=None,
                        help="server processes, each with its own SO_REUSEPORT socket on the port (default "
                             "RECOMMENDER_WORKERS, else 1)")
    parser.add_argument("--access-log", action="store_true", default=None,
                        help="log every request (default: RECOMMENDER_ACCESS_LOG, else only /metrics)")


def _add_forecast_request(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--purchases", type=Path, required=True, help="purchases file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--catalog", type=Path, required=True, help="catalog file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--horizon", type=int, default=12, help="periods ahead, up to 26 weeks (default 12)")
    parser.add_argument("--freq", default="W", help="W (weekly, default) or D (daily)")
    parser.add_argument("--by", default="item", help="item (default), item,city_tier, or merchant (totals)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--engine", choices=("local", "spark"), default="local",
                        help="local: every method on this machine (default); spark: statsforecast's methods fitted on "
                             "Apache Spark, the same numbers (pip install .[spark], Java 17+)")
    parser.add_argument("--spark-master", default=None,
                        help="Spark master URL with --engine spark (default local[*]; e.g. spark://host:7077, yarn)")
    _add_unknown_items(parser)


def _add_forecast(parser: argparse.ArgumentParser) -> None:
    _add_forecast_request(parser)
    parser.add_argument("--out", type=Path, required=True, help="forecast table (CSV, CSV.gz or Parquet)")
    parser.add_argument("--merchant", default=None, help="forecast only this merchant's items")
    parser.add_argument("--report", type=Path, default=None, help="directory for per-merchant HTML reports")


def _add_forecast_backtest(parser: argparse.ArgumentParser) -> None:
    _add_forecast_request(parser)
    parser.add_argument("--origins", type=int, default=3, help="forecast origins (default 3)")
    parser.add_argument("--step", type=int, default=None, help="periods between origins (default horizon // 3)")
    parser.add_argument("--last-origin", default=None, metavar="DATE",
                        help="the last origin, a period start such as 2011-10-10 (default: horizon periods before the "
                             "end of the data)")
    parser.add_argument("--min-recent-sales", type=int, default=0, metavar="N",
                        help="score only series sold in at least N of the 20 periods before each origin (default 0)")


def _add_forecast_publish(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--purchases", type=Path, required=True, help="purchases file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--catalog", type=Path, required=True, help="catalog file (CSV, CSV.gz or Parquet)")
    parser.add_argument("--out", type=Path, required=True, help="forecast directory to write (replaced atomically)")
    parser.add_argument("--horizon", type=int, default=None,
                        help="periods ahead (default the longest served: 26 weeks or 182 days)")
    parser.add_argument("--freq", default="W", help="W (weekly, default) or D (daily)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_unknown_items(parser)


def _add_simulate_campaign(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model directory written by train")
    parser.add_argument("--campaign", type=Path, required=True,
                        help="campaign JSON, as POST /v1/admin/campaigns takes it (its window is laid over the visits)")
    parser.add_argument("--traffic", type=Path, required=True, help="purchases file whose orders are the visits")
    parser.add_argument("--catalog", type=Path, default=None, help="catalog file (for the traffic file's items)")
    parser.add_argument("--days", type=float, default=None,
                        help="replay the traffic's last N days (default: as many as the campaign's window)")
    parser.add_argument("--out", type=Path, default=None, help="HTML report to write (the delivery plot)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_unknown_items(parser)


def run_simulate_campaign(args: argparse.Namespace) -> int:
    import json

    from recommender.artifacts import load_model_directory
    from recommender.campaigns import Campaign
    from recommender.engine import RecommendationEngine
    from recommender.loaders import load_dataset
    from training.simulate_campaign import simulate_campaign, write_simulation_report

    try:
        campaign = Campaign.from_dict(json.loads(args.campaign.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise ValueError(f"{args.campaign}: not a campaign object ({exc})") from exc
    except ValueError as exc:
        raise ValueError(f"{args.campaign}: {exc}") from exc
    engine, _ = load_model_directory(args.model, RecommendationEngine)
    dataset = load_dataset(args.traffic, args.catalog, unknown_items=args.unknown_items)
    days = args.days if args.days is not None else (campaign.end - campaign.start).total_seconds() / 86_400
    simulation = simulate_campaign(engine, campaign, dataset, days, show_progress=not args.quiet)
    print(simulation.table())
    if args.out:
        print(f"report written to {write_simulation_report(simulation, args.out)}")
    return 0


def _add_merchant_token(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokens", type=Path, required=True, help="token file (JSON of hashes; created if missing)")
    parser.add_argument("--merchant", required=True, help="merchant id (catalog merchant_id)")


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "demo-data": ("write the embedded demo marketplace (purchases.csv, catalog.csv)", _add_demo_data, run_demo_data),
    "validate": ("check purchase and catalog files against the data contract", _add_validate, run_validate),
    "train": ("train the hybrid recommender and write a model directory", _add_train, run_train),
    "recommend": ("write top-k recommendations for a file of buyers", _add_recommend, run_recommend),
    "buy-again": ("write each buyer's earlier items likeliest to be bought again soon, with the reason",
                  _add_buy_again, run_buy_again),
    "evaluate": ("temporal split: every model and the hybrid against baselines", _add_evaluate, run_evaluate),
    "evaluate-buy-again": ("temporal split: repeat timing against personal purchase-frequency baselines",
                           _add_evaluate_buy_again, run_evaluate_buy_again),
    "tune": ("the model search of train with a bigger budget, saved as a config", _add_tune, run_tune),
    "serve": ("serve a model directory over HTTP (FastAPI, uvicorn)", _add_serve, run_serve),
    "retrain": ("train from the event store, compare with the serving model on recent days, promote if not worse",
                _add_retrain, run_retrain),
    "forecast": ("demand forecast per item (x city tier) or merchant, P10/P50/P90", _add_forecast, run_forecast),
    "forecast-backtest": ("rolling-origin backtest of the forecast against every simple baseline",
                          _add_forecast_backtest,
                          run_forecast_backtest),
    "forecast-publish": ("forecast every merchant once, for the serving API (forecast directory)",
                         _add_forecast_publish, run_forecast_publish),
    "merchant-token": ("issue a merchant's API token (printed once; its hash stored)", _add_merchant_token,
                       run_merchant_token),
    "simulate-campaign": ("replay past visits with a campaign: delivery against the plan, accuracy cost, reach",
                          _add_simulate_campaign, run_simulate_campaign),
    "import-uci": ("turn the UCI Online Retail data set into contract files", _add_import_uci, run_import_uci),
}


DESCRIPTION = ("Demand matching for rural produce and handicrafts: train, evaluate and serve recommendations, "
               "forecast merchants' demand, run exposure campaigns.")


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("recommender")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="recommender", description=DESCRIPTION,
                                     epilog="Each command's options: recommender COMMAND --help.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, and tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"recommender {_installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        command.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``recommender`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    interrupt_on_sigterm()  # one line, no traceback (serve drains instead)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        if args.verbose:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except (ContractError, ValueError, FileNotFoundError) as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
