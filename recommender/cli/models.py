"""Commands on recommendation models: train, evaluate and tune them, recommend from them, retrain
from the event store, simulate a campaign."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from recommender.cli.commands import Group
from recommender.cli.options import (
    add_as_of,
    add_budget,
    add_decimal_comma,
    add_file_options,
    add_files,
    add_inputs,
    add_test_days,
    as_of_us,
    day,
    duration,
    file_dataset,
    file_format,
    training_config,
    training_data,
)
from recommender.extras import require

log = logging.getLogger("recommender")
commands = Group()


def _add_train(parser: argparse.ArgumentParser) -> None:
    add_inputs(parser, spark=True)
    add_budget(parser, "scaled to the data: 20 s up to 3.3M purchase lines, then 6 s per million")
    parser.add_argument("--out", type=Path, required=True, help="model directory to write (replaced atomically)")
    parser.add_argument("--backend", choices=("local", "spark"), default="local",
                        help="local: in memory on this machine (default); spark: purchases read, aggregated and "
                             "ALS fitted on Apache Spark (pip install .[spark], Java 17+)")
    parser.add_argument("--spark-master", default=None,
                        help="Spark master URL with --backend spark (default local[*]; e.g. spark://host:7077, yarn)")
    parser.add_argument("--spark-checkpoint-dir", default=None,
                        help="ALS checkpoint directory with --backend spark (default: a temporary local directory; "
                             "on a cluster, a path every node reaches, e.g. hdfs://...)")


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


@commands.command("train", "train the hybrid recommender and write a model directory", _add_train)
def run_train(args: argparse.Namespace) -> int:
    """Train on files or the event store (locally or on Spark) and write the model directory."""
    from recommender.artifacts import save_model_directory
    from training.train import manifest_fields, summary_table, train

    config = training_config(args)
    if args.backend == "spark" and args.from_store:
        raise ValueError("--from-store trains on one machine: leave out --backend spark")
    if args.backend == "spark" and (args.date_format or args.decimal_comma):
        raise ValueError("--date-format and --decimal-comma are read on one machine: leave out --backend spark, or "
                         "write the purchases' times in ISO 8601 and numbers with a decimal point")
    store = _store_position(args.from_store)
    if args.backend == "spark":
        from training.spark_train import train_with_spark

        result = train_with_spark(args.purchases, args.catalog, config, master=args.spark_master,
                                  checkpoint_dir=args.spark_checkpoint_dir, unknown_items=args.unknown_items,
                                  show_progress=not args.quiet)
    else:
        if args.spark_master or args.spark_checkpoint_dir:
            raise ValueError("--spark-master and --spark-checkpoint-dir need --backend spark")
        dataset = training_data(args)
        log.info("loaded %s", dataset.summary().replace("\n", "; "))
        result = train(dataset, config, show_progress=not args.quiet)
    manifest = save_model_directory(args.out, result.engine, manifest_fields(
        result, config, {"purchases": args.purchases, "catalog": args.catalog}, store=store))
    print(summary_table(result, result.config))
    print(f"model {manifest['model_version']} written to {args.out}")
    return 0


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
    parser.add_argument("--date", type=day, default=None, metavar="YYYY-MM-DD",
                        help="rank for the season of this day (UTC; default: today), as the API's date: goods in "
                             "season rise when the model weighs the season")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


@commands.command("recommend", "write top-k recommendations for a file of buyers", _add_recommend)
def run_recommend(args: argparse.Namespace) -> int:
    """Write each buyer's top-k recommendations of a model directory."""
    from recommender.artifacts import load_model_directory
    from recommender.engine import RecommendationEngine
    from training.recommend import write_recommendations

    engine, manifest = load_model_directory(args.model, RecommendationEngine)
    counts = write_recommendations(engine, args.users, args.out, args.k, include_purchased=args.include_purchased,
                                   niche=args.niche, threads=args.threads, show_progress=not args.quiet,
                                   reasons=args.reasons, date=args.date)
    print(f"model {manifest['model_version']}: {counts['buyers']:,} buyers ({counts['cold_start']:,} unknown, "
          f"given the cold-start ranking), {counts['rows']:,} rows written to {args.out}")
    return 0


def _add_buy_again(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model directory written by train")
    parser.add_argument("--users", type=Path, required=True, help="CSV or Parquet file with a user_id column")
    parser.add_argument("--k", type=int, default=10, help="items per buyer (default 10)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output file: user_id,rank,item_id,score,reason (CSV, or Parquet by extension)")
    add_as_of(parser)


@commands.command("buy-again", "write each buyer's earlier items likeliest to be bought again soon, with the reason",
                  _add_buy_again)
def run_buy_again(args: argparse.Namespace) -> int:
    """Write each buyer's earlier items ranked by repeat timing, with the reason."""
    from recommender.artifacts import load_model_directory
    from recommender.engine import RecommendationEngine
    from training.recommend import write_buy_again

    engine, manifest = load_model_directory(args.model, RecommendationEngine)
    counts = write_buy_again(engine, args.users, args.out, args.k, as_of_us(args))
    print(f"model {manifest['model_version']}: {counts['buyers']:,} buyers ({counts['with_items']:,} with items to "
          f"buy again), {counts['rows']:,} rows written to {args.out}")
    return 0


def _add_audience(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model directory written by train")
    parser.add_argument("--items", type=Path, required=True, help="CSV or Parquet file with an item_id column")
    parser.add_argument("--k", type=int, default=100, help="buyers per part of each audience (default 100)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output file: item_id,rank,user_id,score,kind,reason (CSV, or Parquet by extension)")
    add_as_of(parser)


@commands.command("audience", "write each item's likeliest buyers: past buyers due again, and first-time buyers",
                  _add_audience)
def run_audience(args: argparse.Namespace) -> int:
    """Write each item's audience, both parts, with the reasons."""
    from recommender.artifacts import load_model_directory
    from recommender.engine import RecommendationEngine
    from training.recommend import write_audiences

    engine, manifest = load_model_directory(args.model, RecommendationEngine)
    counts = write_audiences(engine, args.items, args.out, args.k, as_of_us(args))
    print(f"model {manifest['model_version']}: {counts['items']:,} items ({counts['known']:,} known to the model), "
          f"{counts['rows']:,} rows written to {args.out}; expected buyers within "
          f"{counts['horizon_days']:g} days: {counts['expected_repeat_buyers']:,.1f} repeat, "
          f"{counts['expected_first_time_buyers']:,.1f} first-time")
    return 0


def _add_evaluate_audiences(parser: argparse.ArgumentParser) -> None:
    add_inputs(parser)
    parser.add_argument("--test-days", type=float, default=28,
                        help="days at the end held out as the test split (default 28)")
    parser.add_argument("--k", type=int, default=100, help="buyers per part for the metrics (default 100)")
    add_budget(parser, "as train")


@commands.command("evaluate-audiences", "temporal split: both audience parts against their baselines",
                  _add_evaluate_audiences)
def run_evaluate_audiences(args: argparse.Namespace) -> int:
    """Print the audience evaluation's table."""
    from training.audience import evaluate_audiences

    evaluation = evaluate_audiences(training_data(args), training_config(args), test_days=args.test_days, k=args.k,
                                    show_progress=not args.quiet)
    print(evaluation.table())
    return 0


def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    add_inputs(parser)
    add_test_days(parser)
    parser.add_argument("--k", type=int, default=10, help="list length for the metrics (default 10)")
    parser.add_argument("--report", type=Path, default=None, help="directory for an HTML report with plots")
    add_budget(parser, "as train")


@commands.command("evaluate", "temporal split: every model and the hybrid against baselines", _add_evaluate)
def run_evaluate(args: argparse.Namespace) -> int:
    """Print the temporal evaluation's table (and write its HTML report with ``--report``)."""
    from training.evaluate import evaluate
    from training.report import write_report
    from training.search import scoreboard_table

    if args.report:
        require("report", "evaluate --report")
    config = training_config(args)
    dataset = training_data(args)
    evaluation = evaluate(dataset, config, test_days=args.test_days, k=args.k, show_progress=not args.quiet)
    if evaluation.validation.get("search"):
        print("model search on the validation windows (inside the training days):")
        print(scoreboard_table(evaluation.validation["search"]) + "\n")
    print(evaluation.table())
    if args.report:
        print(f"report written to {write_report(evaluation, args.report)}")
    return 0


def _add_evaluate_buy_again(parser: argparse.ArgumentParser) -> None:
    add_files(parser)
    parser.add_argument("--test-days", type=float, default=28,
                        help="days at the end held out as the test split (default 28)")
    parser.add_argument("--k", type=int, default=10, help="list length for the metrics (default 10)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


@commands.command("evaluate-buy-again", "temporal split: repeat timing against personal purchase-frequency baselines",
                  _add_evaluate_buy_again)
def run_evaluate_buy_again(args: argparse.Namespace) -> int:
    """Print the buy-again evaluation's table."""
    from training.buy_again import evaluate_buy_again

    dataset = file_dataset(args)
    print(evaluate_buy_again(dataset, test_days=args.test_days, k=args.k, show_progress=not args.quiet).table())
    return 0


def _add_tune(parser: argparse.ArgumentParser) -> None:
    add_inputs(parser)
    add_test_days(parser)
    add_budget(parser, "four times train's")
    parser.add_argument("--out", type=Path, required=True, help="where to write the best config (JSON)")


@commands.command("tune", "the model search of train with a bigger budget, saved as a config", _add_tune)
def run_tune(args: argparse.Namespace) -> int:
    """Search the model with a bigger budget and save the best config."""
    from training.tune import tune

    config = training_config(args)
    dataset = training_data(args)
    result = tune(dataset, config, budget_minutes=args.budget, test_days=args.test_days,
                  show_progress=not args.quiet)
    result.best_config.save(args.out)
    print(result.table())
    print(f"best config written to {args.out}; train with: recommender train ... --config {args.out}")
    return 0


def _add_retrain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, metavar="URL", help="event store to train from")
    parser.add_argument("--catalog", type=Path, required=True, help="catalog file (the store's items are added)")
    add_decimal_comma(parser)
    parser.add_argument("--models-dir", type=Path, required=True, help="directory the new model directories go in")
    parser.add_argument("--server", default=None, metavar="URL",
                        help="server whose admin reload serves a promoted model, e.g. http://127.0.0.1:8000 "
                             "(admin key from RECOMMENDER_ADMIN_KEY); without it, models are only registered")
    parser.add_argument("--every", type=duration, default=None, metavar="INTERVAL",
                        help="retrain every INTERVAL (30m, 1h, ...) until stopped; default: once")
    parser.add_argument("--recent-days", type=float, default=7.0,
                        help="days held out to compare the candidate with the serving model (default 7)")
    parser.add_argument("--margin", type=float, default=0.0,
                        help="NDCG@10 the candidate must gain over the serving model to be promoted (default 0)")
    parser.add_argument("--config", type=Path, default=None, help="training config (JSON or TOML)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_budget(parser, "as train's")


@commands.command("retrain", "train from the event store, compare with the serving model on recent days, promote if "
                  "not worse", _add_retrain)
def run_retrain(args: argparse.Namespace) -> int:
    """Retrain once, or every ``--every`` until stopped (a failed round leaves serving untouched)."""
    import time

    from training.retrain import retrain_once

    config = training_config(args)
    admin_key = None
    if args.server:  # RECOMMENDER_ADMIN_KEY, read once, to reload the server (the [serve] extra reads it)
        from serving.settings import AdminKeySettings

        admin_key = AdminKeySettings().admin_key
    while True:
        try:
            record = retrain_once(args.store, args.catalog, args.models_dir, server=args.server,
                                  recent_days=args.recent_days, margin=args.margin, config=config,
                                  show_progress=not args.quiet, file_format=file_format(args),
                                  admin_key=admin_key.get_secret_value() if admin_key is not None else "")
            print(f"{record.status}: {record.model_version} {record.model_dir} ({record.reason})")
        except Exception as exc:  # a failed round leaves serving untouched; --every tries again
            if args.every is None:
                raise
            log.warning("retraining failed, serving untouched; next round in %.0f s: %s", args.every, exc)
        if args.every is None:
            return 0
        time.sleep(args.every)


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
    add_file_options(parser)


@commands.command("simulate-campaign", "replay past visits with a campaign: delivery against the plan, accuracy cost, "
                  "reach", _add_simulate_campaign)
def run_simulate_campaign(args: argparse.Namespace) -> int:
    """Replay the traffic's visits with the campaign and print (and with ``--out`` plot) its delivery."""
    import json

    from recommender.artifacts import load_model_directory
    from recommender.campaigns import Campaign
    from recommender.engine import RecommendationEngine
    from training.simulate_campaign import simulate_campaign, write_simulation_report

    if args.out:
        require("report", "simulate-campaign --out")
    try:
        campaign = Campaign.from_dict(json.loads(args.campaign.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise ValueError(f"{args.campaign}: not a campaign object ({exc})") from exc
    except ValueError as exc:
        raise ValueError(f"{args.campaign}: {exc}") from exc
    engine, _ = load_model_directory(args.model, RecommendationEngine)
    dataset = file_dataset(args, args.traffic)
    days = args.days if args.days is not None else (campaign.end - campaign.start).total_seconds() / 86_400
    simulation = simulate_campaign(engine, campaign, dataset, days, show_progress=not args.quiet)
    print(simulation.table())
    if args.out:
        print(f"report written to {write_simulation_report(simulation, args.out)}")
    return 0


def _add_simulate_lot(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True,
                        help="model directory written by train on the purchases before the replayed days")
    parser.add_argument("--purchases", type=Path, required=True, help="purchases file whose last days are replayed")
    parser.add_argument("--catalog", type=Path, required=True, help="catalog file")
    parser.add_argument("--buyers", type=Path, required=True,
                        help="the demo marketplace's buyers.csv (demo-data writes it): the buyers' known tastes")
    parser.add_argument("--lot", type=Path, required=True, help='lot JSON: {"lot_id": ..., "items": [...], "units": N}')
    parser.add_argument("--days", type=float, default=28, help="replay the last N days, the lot's window (default 28)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the buyers' responses (default 0)")
    parser.add_argument("--out", type=Path, default=None, help="HTML report to write (the sell-through plot)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_file_options(parser)


@commands.command("simulate-lot", "replay the last days of the demo marketplace with a harvest lot: share sold by its "
                  "date with and without its clearance campaign, and the NDCG@10 cost", _add_simulate_lot)
def run_simulate_lot(args: argparse.Namespace) -> int:
    """Replay the last days with a lot, organic and with its clearance, and print (with ``--out`` plot) them."""
    import json

    import pandas as pd

    from recommender.artifacts import load_model_directory
    from recommender.engine import RecommendationEngine
    from training.simulate_lot import simulate_lot, write_lot_report

    if args.out:
        require("report", "simulate-lot --out")
    try:
        lot = json.loads(args.lot.read_text(encoding="utf-8"))
        lot_id, items, units = str(lot["lot_id"]), tuple(str(item) for item in lot["items"]), lot["units"]
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise ValueError(f"{args.lot}: not a lot object ({exc})") from exc
    except KeyError as exc:
        raise ValueError(f"{args.lot}: missing field {exc}") from exc
    if isinstance(units, bool) or not isinstance(units, int) or units < 1 or not items:
        raise ValueError(f"{args.lot}: a lot names items and a positive whole number of units")
    engine, _ = load_model_directory(args.model, RecommendationEngine)
    dataset = file_dataset(args)
    buyers = pd.read_csv(args.buyers, dtype=str)
    missing = [name for name in ("user_id", "top_category", "favourite_regions") if name not in buyers]
    if missing:
        raise ValueError(f"{args.buyers}: missing column {missing[0]!r} (found: {', '.join(buyers.columns)}); "
                         "simulate-lot reads the buyers.csv that demo-data writes")
    simulation = simulate_lot(engine, dataset, buyers, lot_id, items, units, args.days, args.seed,
                              show_progress=not args.quiet)
    print(simulation.table())
    if args.out:
        print(f"report written to {write_lot_report(simulation, args.out)}")
    return 0

