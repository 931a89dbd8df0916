"""The HTTP API: recommendations, similar items, ranking and popularity from one model directory.

``create_app(model_dir)`` loads and verifies the model directory once, precomputes what requests
need (filter masks per category and region, the price array, titles, popularity rows, reason
vectors, every known buyer's model vector and default list: :mod:`serving.precomputed`) into a
:class:`ServedModel`, and keeps it as ``app.state.served``. Every request reads that reference
once at its start, so swapping a model in later is one assignment (``app.state.served =
ServedModel.load(path)``) and in-flight requests finish on the model they started with.
Recommendation requests the precomputed lists cannot answer are scored in batches with the
requests that arrive with them (:mod:`serving.batching`). The list routes (recommendations,
similar items, popular) are lean routes (:class:`serving.routing.LeanRoute`): their path and
query are validated by one pydantic model each, without FastAPI's per-request dependency solving,
they come first in the route list, and they answer with orjson (:mod:`serving.lean_routes`), the
items joined from JSON pieces encoded at load (:mod:`serving.item_json`).

Request handlers and their dependencies are ``async def``: their work is short CPU work (a row
lookup, one product with the item vectors, a partial sort: well under a millisecond), which a
threadpool would only slow down (a thread hop per request and GIL contention with the event
loop). The server scales with processes (``recommender serve --workers N``), and BLAS is limited
to one thread per process (set in the lifespan). Only the admin reload, which loads a model for
seconds, runs in the threadpool.

Caps and policies (also in the OpenAPI descriptions):

* ``k``: 1..``MAX_K`` (1000); ids: 1..128 characters; ``city_tier``: 1..5; ``niche``: [0, 1];
  ``max_price`` >= 0 (items without a price are left out when it is given); /v1/rank takes
  1..``MAX_CANDIDATES`` (5000) item ids; request bodies over 1 MiB are refused with 413.
* An unknown ``category`` or ``region`` value is a 422 naming the value (a typo should not look
  like "no results"); a known value with nothing available gives an empty list.
* Unknown query parameters are a 422 naming them.
* /v1/rank lists unknown ids in ``unknown_item_ids`` and unavailable ones in
  ``unavailable_item_ids``; neither is ranked.

Operations:

* ``POST /v1/admin/reload`` (body ``{"model_dir": "..."}``, optional; default: the directory being
  served) loads, verifies and prepares a model directory in the threadpool, one reload at a time
  (a lock), then swaps it in with one assignment: requests in flight finish on the old model and
  none fails. With several worker processes, the other workers follow within about half a
  second plus their load time (:mod:`serving.reload_sync`). A bad directory is a 422 naming the
  problem and the old model keeps serving. The route needs the admin key: the server reads it
  from ``RECOMMENDER_ADMIN_KEY`` (at each request) and clients send it in the ``X-API-Key``
  header; a missing or wrong key is a 401, and while the variable is unset (or empty) the route
  answers 403 ("admin API disabled").
* ``GET /metrics``: Prometheus text format (see :mod:`serving.metrics`): request counts and
  latency histograms per route template, method and status, and the served model version. Not
  authenticated (restrict it at the network level if needed).
"""
from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import os
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader

from recommender.artifacts import ModelDirectoryError, load_model_directory
from recommender.engine import RecommendationEngine
from recommender.explain import Explainer, catalog_text, popular_id
from recommender.features.encoders import UNKNOWN_CODE
from recommender.ranking import top_k
from serving.batching import RecommendationBatcher
from serving.forecasts import (
    FORECASTS_DIR_ENV,
    MERCHANT_TOKENS_ENV,
    follow_republished,
    load_forecast_state,
)
from serving.forecasts import router as forecasts_router
from serving.item_json import ItemsJson
from serving.lean_routes import json_response
from serving.metrics import CONTENT_TYPE_LATEST, Metrics, MetricsMiddleware
from serving.precomputed import DefaultLists, valid_prefix
from serving.reload_sync import announce, announcement_file, follow
from serving.routing import StrictQueryRoute, hot_routes_first, lean_get
from serving.schemas import (
    MAX_CANDIDATES,
    MAX_CITY_TIER,
    MAX_ID_LENGTH,
    MAX_K,
    BuyerPath,
    ErrorResponse,
    HealthResponse,
    ItemPath,
    ModelInfo,
    PopularQuery,
    PopularResponse,
    RankRequest,
    RankResponse,
    ReadyResponse,
    RecommendationsQuery,
    RecommendationsResponse,
    ReloadRequest,
    ReloadResponse,
    SimilarItemsQuery,
    SimilarItemsResponse,
    ValidationErrorResponse,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20  # a full /v1/rank body (5000 ids of 128 characters) is about 0.7 MB; larger is a 413
SHOWN_CHOICES = 30  # known values listed in an "unknown category/region" message
UNSCORED = -1e30  # /v1/rank's score of a candidate the model cannot score


def _value_masks(values: np.ndarray) -> dict[str, np.ndarray]:
    """One boolean item mask per distinct value."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return {str(value): codes == i for i, value in enumerate(uniques)}


def _item_records(item_ids, titles, regions, merchants, categories, prices) -> list[dict]:
    """Every item's metadata as response fields (plain Python values), built once per model."""
    prices = [None if np.isnan(price) else price for price in prices.tolist()]
    return [{"item_id": str(item), "title": str(title), "region": region, "merchant_id": merchant,
             "category": category, "price": price}
            for item, title, region, merchant, category, price in zip(
                item_ids.tolist(), titles.tolist(), regions.tolist(), merchants.tolist(), categories.tolist(), prices)]


class UnknownFilterValue(ValueError):
    """A category or region value the served catalog does not have."""


@dataclass
class ServedModel:
    """A loaded engine, its manifest, and everything requests need precomputed."""

    engine: RecommendationEngine
    manifest: dict
    path: str
    item_ids: np.ndarray
    titles: np.ndarray
    prices: np.ndarray  # float64, nan where unknown
    category_masks: dict[str, np.ndarray]
    region_masks: dict[str, np.ndarray]
    popularity: np.ndarray  # (MAX_CITY_TIER + 1) x items; row 0 global
    explainer: Explainer
    default_lists: DefaultLists | None  # known buyers' lists for requests with default parameters
    items_json: ItemsJson  # the items of answers, as JSON

    @property
    def model_version(self) -> str:
        return str(self.manifest.get("model_version", "unknown"))

    @classmethod
    def load(cls, path) -> ServedModel:
        """Load and verify a model directory (raises ``ModelDirectoryError``) and precompute."""
        engine, manifest = load_model_directory(path, RecommendationEngine)
        return cls.from_engine(engine, manifest, str(path))

    @classmethod
    def from_engine(cls, engine: RecommendationEngine, manifest: dict, path: str = "") -> ServedModel:
        """Precompute what requests need from a loaded engine."""
        if not engine.precompute_for_serving():
            log.info("buyer vectors not precomputed (non-linear model or too many buyers): computed per request")
        catalog = engine.catalog
        n = engine.n_items
        item_ids = np.asarray(engine.items.ids, dtype=object)
        explainer = Explainer.of(engine)
        titles, regions = explainer.titles, catalog_text(catalog, "region")
        categories = catalog_text(catalog, "category")
        # shortest decimal of the float32 price (91.9, not 91.9000015258789)
        prices = (catalog["price"].to_numpy(dtype=np.float32).astype(str).astype(np.float64) if "price" in catalog
                  else np.full(n, np.nan))
        popular = engine.model.component("popularity")
        rows = getattr(popular, "tier_popularity_", None)
        if rows is None or np.shape(rows) != (MAX_CITY_TIER + 1, n):
            sales = engine.item_sales.astype(np.float64)
            share = sales / sales.sum() if sales.sum() > 0 else np.full(n, 1.0 / max(n, 1))
            rows = np.tile(share, (MAX_CITY_TIER + 1, 1))
        merchants = catalog_text(catalog, "merchant_id")
        return cls(engine=engine, manifest=manifest, path=path, item_ids=item_ids, titles=titles, prices=prices,
                   category_masks=_value_masks(categories), region_masks=_value_masks(regions),
                   popularity=np.asarray(rows, dtype=np.float32), explainer=explainer,
                   default_lists=DefaultLists.compute(engine, explainer),
                   items_json=ItemsJson(_item_records(item_ids, titles, regions, merchants, categories, prices),
                                        explainer.reason_texts, explainer.suffix))

    def filter_mask(self, category: str | None, region: str | None, max_price: float | None) -> np.ndarray | None:
        """Boolean item mask of the filters (None when there are none); availability is applied
        by the engine."""
        mask = None
        for name, value, masks in (("category", category, self.category_masks), ("region", region, self.region_masks)):
            if value is None:
                continue
            if value not in masks:
                known = sorted(masks)
                shown = ", ".join(repr(v) for v in known[:SHOWN_CHOICES])
                more = f" (and {len(known) - SHOWN_CHOICES} more)" if len(known) > SHOWN_CHOICES else ""
                raise UnknownFilterValue(f"unknown {name} {value!r}; known values: {shown}{more}")
            mask = masks[value] if mask is None else mask & masks[value]
        if max_price is not None:
            with np.errstate(invalid="ignore"):
                cheap = self.prices <= max_price  # unknown (nan) prices are left out
            mask = cheap if mask is None else mask & cheap
        return mask


# --- request helpers -------------------------------------------------------------------------------

async def get_served(request: Request) -> ServedModel:
    """The model being served (read once per request), or 503."""
    served = getattr(request.app.state, "served", None)
    if served is None:
        raise HTTPException(503, detail="no model is loaded; the service is not ready")
    return served


def _filter_mask(served: ServedModel, category, region, max_price):
    try:
        return served.filter_mask(category, region, max_price)
    except UnknownFilterValue as exc:
        raise HTTPException(422, detail=str(exc)) from exc


Served = Annotated[ServedModel, Depends(get_served)]


ERRORS = {404: {"model": ErrorResponse}, 503: {"model": ErrorResponse, "description": "No model loaded."}}
REQUEST_ERRORS = {**ERRORS, 422: {"model": ValidationErrorResponse, "description": "Bad parameters or body."}}


# --- admin authentication --------------------------------------------------------------------------

ADMIN_KEY_ENV = "RECOMMENDER_ADMIN_KEY"
ADMIN_KEY_HEADER = "X-API-Key"
_admin_key_header = APIKeyHeader(name=ADMIN_KEY_HEADER, auto_error=False,
                                 description=f"The admin key (the server's {ADMIN_KEY_ENV}).")


async def require_admin_key(key: Annotated[str | None, Depends(_admin_key_header)]) -> None:
    """403 while ``RECOMMENDER_ADMIN_KEY`` is unset or empty on the server; 401 when the
    ``X-API-Key`` header is missing or does not match it (compared in constant time)."""
    expected = os.environ.get(ADMIN_KEY_ENV, "")
    if not expected:
        raise HTTPException(403, detail=f"admin API disabled: set {ADMIN_KEY_ENV}")
    if not key:
        raise HTTPException(401, detail=f"missing API key: send the admin key in the {ADMIN_KEY_HEADER} header",
                            headers={"WWW-Authenticate": ADMIN_KEY_HEADER})
    if not hmac.compare_digest(key.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")):
        raise HTTPException(401, detail=f"invalid API key in the {ADMIN_KEY_HEADER} header",
                            headers={"WWW-Authenticate": ADMIN_KEY_HEADER})


ADMIN_ERRORS = {401: {"model": ErrorResponse, "description": f"Missing or wrong {ADMIN_KEY_HEADER}."},
                403: {"model": ErrorResponse, "description": f"Admin API disabled ({ADMIN_KEY_ENV} is not set)."},
                422: {"model": ErrorResponse, "description": "Bad model directory (nothing changed) or bad body."}}


# --- the app ---------------------------------------------------------------------------------------

def freeze_heap() -> None:
    """Keep the garbage collector off the served model: collect, then move every object alive now
    (the model's records, strings and arrays: over 100k objects) to the permanent generation
    (``gc.freeze``), so the collections that requests' short-lived objects trigger no longer walk
    them (about 14 us per recommendation request). Unfrozen first, so a model replaced since the
    last call is collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def lifespan(app: FastAPI):
    from threadpoolctl import threadpool_limits

    limiter = threadpool_limits(1, "blas")  # process-wide: requests parallelise across processes
    freeze_heap()
    shared = announcement_file()
    followers = []
    if shared is not None:  # one of several workers: follow the reloads of the others
        followers.append(asyncio.create_task(follow(shared, app.state.served_version, app.state.swap_model)))
    if app.state.forecasts is not None:
        followers.append(asyncio.create_task(follow_republished(app.state)))
    try:
        yield
    finally:
        for follower in followers:
            follower.cancel()
        limiter.restore_original_limits()


def create_app(model_dir: str | FilePath | None, forecasts_dir: str | FilePath | None = None,
               merchant_tokens: str | FilePath | None = None) -> FastAPI:
    """The API serving the model directory ``model_dir`` (verified and loaded now, so a bad
    directory fails at start with a ``ModelDirectoryError``); ``None`` starts without a model
    (``/readyz`` answers 503 until one is assigned to ``app.state.served``). ``forecasts_dir``
    (from ``recommender forecast-publish``) and ``merchant_tokens`` (a token file) serve the
    merchant forecast route (:mod:`serving.forecasts`), which answers 503 without them."""
    app = FastAPI(title="Rural goods recommender",
                  description="Recommends rural Chinese farm produce and handicrafts to city buyers; niche "
                              "regional goods are surfaced on purpose (the `niche` knob). Caps: k <= "
                              f"{MAX_K}, ids <= {MAX_ID_LENGTH} characters, /v1/rank <= {MAX_CANDIDATES} ids.",
                  version="1", lifespan=lifespan, max_body_size=MAX_BODY_BYTES)
    app.router.route_class = StrictQueryRoute
    app.state.served = ServedModel.load(model_dir) if model_dir is not None else None
    app.state.reload_lock = threading.Lock()
    app.state.forecasts, app.state.merchant_tokens = load_forecast_state(forecasts_dir, merchant_tokens)

    def served_version() -> str | None:
        served = getattr(app.state, "served", None)
        return None if served is None else served.model_version

    def served_path() -> str:
        served = getattr(app.state, "served", None)
        return "" if served is None else served.path

    metrics = app.state.metrics = Metrics(served_version)

    def swap_model(target: str) -> tuple[str | None, str, float]:
        """Load, verify and prepare ``target``, then serve it (one assignment: requests in flight
        finish on the old model); one swap at a time. Raises ``ModelDirectoryError`` (the old
        model keeps serving). Returns the previous and new model versions and the seconds taken."""
        with app.state.reload_lock:
            previous = served_version()
            start = time.perf_counter()
            try:
                new = ServedModel.load(target)
            except Exception as exc:
                metrics.reloads.labels("failure").inc()
                log.warning("model reload from %s refused: %s", target, exc)
                raise
            app.state.served = new
            seconds = time.perf_counter() - start
            metrics.reloads.labels("success").inc()
            freeze_heap()
        log.info("model reloaded from %s: %s -> %s in %.2f s", target, previous, new.model_version, seconds)
        return previous, new.model_version, seconds

    app.state.served_version = served_version
    app.state.swap_model = swap_model
    batcher = RecommendationBatcher()
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _install_error_handlers(app)

    @app.get("/healthz", response_model=HealthResponse, tags=["ops"],
             summary="Liveness: the process answers")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", response_model=ReadyResponse, tags=["ops"],
             responses={503: {"model": ErrorResponse, "description": "No model loaded."}},
             summary="Readiness: 200 when a model is loaded, 503 otherwise")
    async def readyz(served: Served) -> dict:
        return {"status": "ready", "model_version": served.model_version}

    @app.get("/v1/model", response_model=ModelInfo, tags=["model"],
             responses=ERRORS, summary="The manifest of the model being served")
    async def model_info(served: Served) -> dict:
        return served.manifest

    @lean_get(app.router, "/v1/users/{user_id}/recommendations", path_model=BuyerPath,
              query_model=RecommendationsQuery, response_model=RecommendationsResponse, tags=["recommend"],
              responses=REQUEST_ERRORS, summary="Top-k items for a buyer",
              description="Known buyers get a personalised list; buyers unknown to the model get the city-tier-aware "
                         "cold-start ranking (`personalized: false`). Unavailable items are never returned; "
                         "`max_price` leaves out items without a price.")
    async def recommendations(request: Request, path: BuyerPath, query: RecommendationsQuery) -> Response:
        served = await get_served(request)
        engine, user_id = served.engine, path.user_id
        mask = _filter_mask(served, query.category, query.region, query.max_price)
        code = engine.users.code_of(user_id)
        k, tier = query.k, query.city_tier
        niche = engine.default_niche if query.niche is None else query.niche
        defaults = mask is None and query.exclude_purchased and niche == engine.default_niche
        lists = served.default_lists if defaults else None
        listed = lists.top(code, k, tier) if lists is not None else None
        if listed is None:
            key = (k, query.exclude_purchased, niche, query.category, query.region, query.max_price)
            listed = valid_prefix(*await batcher.recommend(engine, key, code, tier, k=k, niche=niche, mask=mask,
                                                           include_purchased=not query.exclude_purchased))
        codes, scores, reason_ids = listed
        if tier is None:
            tier = int(engine.user_tiers[code]) if code >= 0 else 0
        if code < 0:
            reason_ids = np.full(len(codes), popular_id(tier))
        elif reason_ids is None:
            bought = engine.purchased.indices[engine.purchased.indptr[code]:engine.purchased.indptr[code + 1]]
            reason_ids = served.explainer.reason_ids(codes, bought, tier)
        return json_response({"user_id": user_id, "personalized": code >= 0, "model_version": served.model_version,
                              "niche": niche, "city_tier": tier or None,
                              "items": served.items_json.items(codes, scores, reason_ids)})

    @lean_get(app.router, "/v1/items/{item_id}/similar", path_model=ItemPath, query_model=SimilarItemsQuery,
              response_model=SimilarItemsResponse, tags=["recommend"], responses=REQUEST_ERRORS,
              summary="Available items similar to an item",
             description="Items with purchases use the model's collaborative neighbours; items nobody has bought "
                         "yet use the content model (text and attributes). 404 for an unknown item id.")
    async def similar(request: Request, path: ItemPath, query: SimilarItemsQuery) -> Response:
        served = await get_served(request)
        engine, item_id, k = served.engine, path.item_id, query.k
        code = engine.items.code_of(item_id)
        if code == UNKNOWN_CODE:
            raise HTTPException(404, detail=f"unknown item id {item_id!r}: not in the catalog of model "
                                            f"{served.model_version}")
        codes, scores, _ = valid_prefix(*(row[0] for row in engine.similar_items(np.array([code], dtype=np.int64), k)))
        reason = served.explainer.similar(code, cold=engine.item_sales[code] == 0)
        return json_response({"item_id": item_id, "model_version": served.model_version,
                              "items": served.items_json.items(codes, scores, reason)})

    @app.post("/v1/rank", response_model=RankResponse, tags=["recommend"], responses=REQUEST_ERRORS,
              summary="Order candidate items for a buyer",
              description=f"Re-orders 1..{MAX_CANDIDATES} item ids by the model's relevance for the buyer (no niche "
                          "re-ranking; items already bought are ranked too). Unknown ids are listed in "
                          "`unknown_item_ids` and unavailable ones in `unavailable_item_ids`; neither is ranked. "
                          "Duplicate ids are ranked once.")
    async def rank(served: Served, body: RankRequest) -> dict:
        engine = served.engine
        ids = list(dict.fromkeys(body.item_ids))
        codes = np.asarray(engine.items.encode(ids), dtype=np.int64)
        unknown = [item for item, c in zip(ids, codes.tolist()) if c < 0]
        known = codes[codes >= 0]
        available = engine.available[known]
        unavailable = [str(served.item_ids[c]) for c in known[~available].tolist()]
        known = known[available]
        user = engine.users.code_of(body.user_id)
        items: list[dict] = []
        if len(known):
            scores = engine.score_items(user, known, body.city_tier)
            scores = np.where(np.isfinite(scores), scores, -np.inf)
            order = np.argsort(-scores, kind="stable")
            # float32's shortest decimal, as the list routes write scores; JSON has no -inf
            shown = np.where(np.isfinite(scores), scores, UNSCORED).astype(np.float32).astype(str).astype(np.float64)
            items = [{"item_id": str(served.item_ids[c]), "score": s}
                     for c, s in zip(known[order].tolist(), shown[order].tolist())]
        return {"user_id": body.user_id, "personalized": user >= 0, "model_version": served.model_version,
                "items": items, "unknown_item_ids": unknown, "unavailable_item_ids": unavailable}

    @lean_get(app.router, "/v1/popular", query_model=PopularQuery, response_model=PopularResponse,
              tags=["recommend"], responses=REQUEST_ERRORS, summary="Recently popular items per city tier",
             description="Recent (time-decayed) popularity among buyers of a city tier, shrunk towards global "
                         "popularity; global popularity when no tier is given. Available items only.")
    async def popular(request: Request, query: PopularQuery) -> Response:
        served = await get_served(request)
        mask = _filter_mask(served, query.category, None, None)
        allowed = served.engine.available if mask is None else served.engine.available & mask
        row = np.where(allowed, served.popularity[query.city_tier or 0], -np.inf)
        codes, scores, _ = valid_prefix(*(row[0] for row in top_k(row[None, :], query.k)))
        reasons = np.full(len(codes), popular_id(query.city_tier))
        return json_response({"city_tier": query.city_tier, "category": query.category,
                              "model_version": served.model_version,
                              "items": served.items_json.items(codes, scores, reasons)})

    @app.post("/v1/admin/reload", response_model=ReloadResponse, tags=["admin"], responses=ADMIN_ERRORS,
              dependencies=[Depends(require_admin_key)],
              summary="Load a model directory and serve it (admin key required)",
              description=f"Loads, verifies and prepares `model_dir` (default: the directory being served), one "
                          f"reload at a time, then swaps it in: requests in flight finish on the old model. A bad "
                          f"directory is a 422 naming the problem and the old model keeps serving. Needs the "
                          f"`{ADMIN_KEY_HEADER}` header equal to the server's `{ADMIN_KEY_ENV}` (401 when missing "
                          f"or wrong); 403 while `{ADMIN_KEY_ENV}` is not set on the server.")
    def reload_model(body: ReloadRequest | None = None) -> dict:
        # a plain def: runs in the threadpool, never blocks the event loop
        target = body.model_dir if body is not None and body.model_dir else served_path()
        if not target:
            raise HTTPException(422, detail="no model_dir given and no model directory is being served")
        try:
            previous_version, version, seconds = swap_model(target)
        except ModelDirectoryError as exc:
            current = app.state.served
            kept = f"still serving model {current.model_version}" if current else "no model is loaded"
            raise HTTPException(422, detail=f"model not reloaded ({kept}): {exc}") from exc
        shared = announcement_file()
        if shared is not None:
            announce(shared, str(target), version)
        return {"previous_model_version": previous_version, "model_version": version, "model_dir": str(target),
                "seconds": round(seconds, 3)}

    @app.get("/metrics", tags=["ops"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
             summary="Prometheus metrics: requests, latencies, served model version")
    async def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(forecasts_router)
    hot_routes_first(app.router)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        message = "; ".join(f"{'.'.join(str(part) for part in e['loc'][1:] or e['loc'])}: {e['msg']}"
                            for e in errors)
        return JSONResponse(status_code=422, content=jsonable_encoder({"detail": errors, "message": message}))

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"detail": f"internal server error ({type(exc).__name__}); "
                                                                "the error has been logged"})


MODEL_DIR_ENV = "RECOMMENDER_MODEL_DIR"


def create_app_from_environment() -> FastAPI:
    """App factory for uvicorn worker processes: the model directory comes from ``RECOMMENDER_MODEL_DIR``,
    the published forecasts and merchant tokens (optional) from ``RECOMMENDER_FORECASTS_DIR`` and
    ``RECOMMENDER_MERCHANT_TOKENS``."""
    model_dir = os.environ.get(MODEL_DIR_ENV)
    if not model_dir:
        raise RuntimeError(f"{MODEL_DIR_ENV} is not set: start the server with `recommender serve --model DIR`")
    return create_app(model_dir, os.environ.get(FORECASTS_DIR_ENV) or None,
                      os.environ.get(MERCHANT_TOKENS_ENV) or None)
