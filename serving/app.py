"""The HTTP API: recommendations, similar items, ranking, popularity and merchants' forecasts.

``create_app(settings)`` takes the server's settings (:mod:`serving.settings`, read once at start),
loads and verifies the model directory once into a :class:`~serving.served.ServedModel` (with
its live overlay, :mod:`serving.live`), keeps both in the app's typed state (:mod:`serving.state`),
and includes one router per concern
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
event store (setting ``store``), authenticated by ingest keys (setting ``ingest_keys``).

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
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from recommender.merchant_tokens import token_hash
from recommender.store import EventStore, GroupCommit
from serving.batching import RecommendationBatcher
from serving.body_limit import BodyLimitMiddleware
from serving.forecasts import load_forecast_state
from serving.metrics import MetricsMiddleware
from serving.responses import install_error_handlers
from serving.routes import ROUTERS
from serving.routes.admin import AdminRateLimit
from serving.routes.pages import static_pages
from serving.schemas import MAX_CANDIDATES, MAX_ID_LENGTH, MAX_K
from serving.served import Served, freeze_heap
from serving.settings import ServingSettings, env_name
from serving.state import ServingState, state_of
from serving.watcher import Watcher

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20  # a full /v1/rank body (5000 ids of 128 characters) is about 0.7 MB; larger is a 413


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    from threadpoolctl import threadpool_limits

    state = state_of(app)
    limiter = threadpool_limits(1, "blas")  # process-wide: requests parallelise across processes
    freeze_heap()
    watcher = Watcher(state)
    # ready means caught up: the first check replays the event store before the server listens
    await asyncio.to_thread(watcher.check)
    if state.served is not None:
        settings = state.settings
        log.info("ready: model %s%s; open http://%s:%d/ui/", state.model_version,
                 ", every stored event replayed" if state.store is not None else "", settings.host, settings.port)
    following = asyncio.create_task(watcher.run())
    try:
        yield
    finally:
        following.cancel()
        limiter.restore_original_limits()
        if state.event_writer is not None:  # there is one with a store
            state.event_writer.close()
        if state.store is not None:
            state.store.close()


def create_app(settings: ServingSettings) -> FastAPI:
    """The API configured by ``settings``. Its model directory (``model_dir``) is verified and loaded
    now, so a bad directory fails at start with a ``ModelDirectoryError``; without one the app starts
    without a model (``/readyz`` answers 503 until one is swapped in). The published forecasts and
    the merchant token file serve the merchant forecast route (:mod:`serving.routes.merchants`),
    which answers 503 without them. The event store ``POST /v1/events`` writes to is opened now,
    and migrated to the newest schema (503 without one)."""
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
    served = Served.load(settings.model_dir) if settings.model_dir is not None else None
    forecasts, merchant_tokens = load_forecast_state(settings.forecasts_dir, settings.merchant_tokens)
    store = EventStore.open(settings.store.get_secret_value()) if settings.store is not None else None
    state = app.state.serving = ServingState(
        settings=settings, store=store, event_writer=GroupCommit(store.events) if store is not None else None,
        ingest_key_hashes=frozenset(token_hash(key.get_secret_value()) for key in settings.ingest_keys),
        admin_rate_limit=AdminRateLimit(settings.admin_rate), batcher=RecommendationBatcher(),
        served=served, forecasts=forecasts, merchant_tokens=merchant_tokens)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/ui", static_pages(), name="ui")  # after the routes: /ui/vendor/... are routes
    return app


def create_app_from_environment() -> FastAPI:
    """App factory for uvicorn (``uvicorn --factory serving.app:create_app_from_environment``): the
    settings from the environment alone, read once now; ``RECOMMENDER_MODEL_DIR`` is required."""
    settings = ServingSettings()
    if settings.model_dir is None:
        raise RuntimeError(f"{env_name('model_dir')} is not set: start the server with `recommender serve --model DIR`")
    return create_app(settings)
