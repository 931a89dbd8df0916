"""Commands of the HTTP API: serve a model directory, issue merchants' tokens for it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from recommender.cli.commands import Group
from recommender.cli.options import int_in
from recommender.contract import UNKNOWN_ITEM_EVENT_POLICIES

if TYPE_CHECKING:
    from serving.settings import ServingSettings

commands = Group()


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
    parser.add_argument("--unknown-items", choices=UNKNOWN_ITEM_EVENT_POLICIES, default=None,
                        help="events of items the catalog lacks (neither the model's nor added through PUT "
                             "/v1/items): store them and list their ids in the answer, or refuse the batch with a "
                             "422 (default: RECOMMENDER_UNKNOWN_ITEMS, else store)")
    parser.add_argument("--host", default=None, help="address to listen on (default RECOMMENDER_HOST, else 127.0.0.1)")
    parser.add_argument("--port", type=int_in(1, 65535), default=None,
                        help="port (default RECOMMENDER_PORT, else 8000)")
    parser.add_argument("--workers", type=int_in(1, 64), default=None,
                        help="server processes, each with its own SO_REUSEPORT socket on the port (default "
                             "RECOMMENDER_WORKERS, else 1)")
    parser.add_argument("--access-log", action="store_true", default=None,
                        help="log every request (default: RECOMMENDER_ACCESS_LOG, else only /metrics)")


@commands.command("serve", "serve a model directory over HTTP (FastAPI, uvicorn)", _add_serve)
def run_serve(args: argparse.Namespace) -> int:
    """Check the model, forecasts and event store, then serve until stopped (drained)."""
    from recommender.artifacts import read_manifest
    from serving.server import serve

    settings = _serve_settings(args)
    assert settings.model_dir is not None and settings.store is not None  # --model is required; the store defaults
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
    model_dir = args.model_dir.resolve()  # required: the flag is the setting
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


def _add_merchant_token(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokens", type=Path, required=True, help="token file (JSON of hashes; created if missing)")
    parser.add_argument("--merchant", required=True, help="merchant id (catalog merchant_id)")


@commands.command("merchant-token", "issue a merchant's API token (printed once; its hash stored)",
                  _add_merchant_token)
def run_merchant_token(args: argparse.Namespace) -> int:
    """Issue a merchant's token for the forecast route and print it (once)."""
    from recommender.merchant_tokens import issue_token

    token = issue_token(args.tokens, args.merchant)
    print(f"token for merchant {args.merchant} (shown once; only its SHA-256 is stored in {args.tokens}):")
    print(token)
    return 0
