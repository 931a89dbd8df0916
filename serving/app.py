"""The HTTP API: recommendations, similar items, ranking, popularity and merchants' forecasts.

``create_app(model_dir)`` loads and verifies the model directory once into a
:class:`~serving.served.ServedModel` (``app.state.served``), and includes one router per concern
(:mod:`serving.routes`): recommendations, items, merchants, admin, operations. Routes use
FastAPI's public API only: path and query parameters as one pydantic model each per route,
validated in one call inside the route and published as the route's parameters
(:mod:`serving.parameters`; unknown query parameters refused by the model), answers as responses
carrying JSON encoded once (:mod:`serving.responses`), and one error shape for every error.

Caps and policies (also in the OpenAPI descriptions):

* ``k``: 1..``MAX_K`` (1000); ids: 1..128 characters; ``city_tier``: 1..5; ``niche``: [0, 1];
  ``max_price`` >= 0 (items without a price are left out when it is given); /v1/rank takes
  1..``MAX_CANDIDATES`` (5000) item ids; request bodies over 1 MiB are refused with 413
  (:mod:`serving.body_limit`).
* An unknown ``category`` or ``region`` value is a 422 naming the value (a typo should not look
  like "no results"); a known value with nothing available gives an empty list.
* Unknown query parameters are a 422 naming them (type ``extra_forbidden``) on every ``/v1`` route;
  the probes (``/healthz``, ``/readyz``, ``/metrics``) ignore the query string.
* /v1/rank lists unknown ids in ``unknown_item_ids`` and unavailable ones in
  ``unavailable_item_ids``; neither is ranked.

Events: ``POST /v1/events`` (:mod:`serving.routes.events`) stores storefronts' buyer events in the
event store (``RECOMMENDER_STORE``), authenticated by ingest keys (``RECOMMENDER_INGEST_KEYS``).

Operations: ``POST /v1/admin/reload`` (:mod:`serving.routes.admin`) swaps in another model
directory: requests in flight finish on the old model and none fails; with several worker
processes, the other workers follow within about a quarter of a second plus their load time
(:mod:`serving.reload_sync`). One watcher picks up that model, republished forecasts and
re-issued merchant tokens (:mod:`serving.watcher`). ``GET /metrics`` exposes Prometheus metrics
(:mod:`serving.metrics`).
BLAS is limited to one thread per process (set in the lifespan): the server scales with processes
(``recommender serve --workers N``).
"""
from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from pathlib import Path as FilePath

from fastapi import FastAPI

from recommender.store import EventStore, GroupCommit
from serving.batching import RecommendationBatcher
from serving.body_limit import BodyLimitMiddleware
from serving.forecasts import (
    FORECASTS_DIR_ENV,
    MERCHANT_TOKENS_ENV,
    load_forecast_state,
)
from serving.metrics import Metrics, MetricsMiddleware
from serving.responses import install_error_handlers
from serving.routes import ROUTERS
from serving.routes.admin import AdminRateLimit
from serving.routes.pages import static_pages
from serving.schemas import MAX_CANDIDATES, MAX_ID_LENGTH, MAX_K
from serving.served import ModelSwapper, ServedModel, freeze_heap
from serving.watcher import Watcher

MAX_BODY_BYTES = 1 << 20  # a full /v1/rank body (5000 ids of 128 characters) is about 0.7 MB; larger is a 413
MODEL_DIR_ENV = "RECOMMENDER_MODEL_DIR"
STORE_ENV = "RECOMMENDER_STORE"


@asynccontextmanager
async def lifespan(app: FastAPI):
    from threadpoolctl import threadpool_limits

    limiter = threadpool_limits(1, "blas")  # process-wide: requests parallelise across processes
    freeze_heap()
    watcher = asyncio.create_task(Watcher(app.state).run())
    try:
        yield
    finally:
        watcher.cancel()
        limiter.restore_original_limits()
        if app.state.store is not None:
            app.state.event_writer.close()
            app.state.store.close()


def create_app(model_dir: str | FilePath | None, forecasts_dir: str | FilePath | None = None,
               merchant_tokens: str | FilePath | None = None, store_url: str | None = None) -> FastAPI:
    """The API serving the model directory ``model_dir`` (verified and loaded now, so a bad
    directory fails at start with a ``ModelDirectoryError``); ``None`` starts without a model
    (``/readyz`` answers 503 until one is assigned to ``app.state.served``). ``forecasts_dir``
    (from ``recommender forecast-publish``) and ``merchant_tokens`` (a token file) serve the
    merchant forecast route (:mod:`serving.routes.merchants`), which answers 503 without them.
    ``store_url`` is the event store ``POST /v1/events`` writes to (:mod:`recommender.store`;
    opened now, and migrated to the newest schema), 503 without one."""
    app = FastAPI(title="Rural goods recommender",
                  description="Recommends rural Chinese farm produce and handicrafts to city buyers; niche "
                              "regional goods are surfaced on purpose (the `niche` knob). Caps: k <= "
                              f"{MAX_K}, ids <= {MAX_ID_LENGTH} characters, /v1/rank <= {MAX_CANDIDATES} ids, "
                              f"bodies <= {MAX_BODY_BYTES} bytes. Every error answer has the shape "
                              "`{\"detail\": \"...\", \"errors\": [...]}`.",
                  version="1", lifespan=lifespan,
                  # /docs is served from the installed Swagger UI files (serving.routes.pages), not a CDN;
                  # ReDoc would need one
                  docs_url=None, redoc_url=None,
                  # the API's own Prometheus metrics (serving.metrics) measure it; FastAPI's OpenTelemetry
                  # hooks would need an SDK this project does not install, and cost 4 us per request to look
                  # for one
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.served = ServedModel.load(model_dir) if model_dir is not None else None
    app.state.forecasts, app.state.merchant_tokens = load_forecast_state(forecasts_dir, merchant_tokens)
    app.state.store = EventStore.open(store_url) if store_url else None
    app.state.event_writer = GroupCommit(app.state.store) if store_url else None
    swapper = app.state.swapper = ModelSwapper(app.state)
    app.state.metrics = Metrics(lambda: swapper.version)
    app.state.batcher = RecommendationBatcher()
    app.state.admin_rate_limit = AdminRateLimit.from_environment()
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/ui", static_pages(), name="ui")  # after the routes: /ui/vendor/... are routes
    return app


def create_app_from_environment() -> FastAPI:
    """App factory for uvicorn worker processes: the model directory comes from ``RECOMMENDER_MODEL_DIR``,
    the published forecasts and merchant tokens (optional) from ``RECOMMENDER_FORECASTS_DIR`` and
    ``RECOMMENDER_MERCHANT_TOKENS``, the event store (optional) from ``RECOMMENDER_STORE``."""
    model_dir = os.environ.get(MODEL_DIR_ENV)
    if not model_dir:
        raise RuntimeError(f"{MODEL_DIR_ENV} is not set: start the server with `recommender serve --model DIR`")
    return create_app(model_dir, os.environ.get(FORECASTS_DIR_ENV) or None,
                      os.environ.get(MERCHANT_TOKENS_ENV) or None, os.environ.get(STORE_ENV) or None)
