"""The admin API: ``POST /v1/admin/reload`` loads a model directory and serves it.

The route needs the admin key: the server reads it from ``RECOMMENDER_ADMIN_KEY`` once, at start
(:mod:`serving.settings`), and clients send it in the ``X-API-Key`` header; a missing or wrong key
is a 401, and while the variable is unset (or empty) the route answers 403 ("admin API disabled").

Admin requests are rate-limited (:class:`AdminRateLimit`, a moving window from the ``limits``
library): per key for requests with the right key, per client address for requests without it
(so guessing keys is slow too); over the limit the answer is a 429 with ``Retry-After``. The
limit is ``RECOMMENDER_ADMIN_RATE`` (default 60/minute), counted per worker process. Keys are
never logged or stored, only their SHA-256 as the counter's name.
"""
from __future__ import annotations

import hmac
import math
import time
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import APIKeyHeader
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from recommender.artifacts import ModelDirectoryError
from recommender.merchant_tokens import token_hash
from recommender.metrics import exposure_table, gini, least_exposed_share, long_tail_share
from serving.parameters import NO_PARAMETERS
from serving.reload_sync import announce
from serving.responses import documented_errors, invalid, json_response
from serving.schemas import ExposureResponse, ReloadRequest, ReloadResponse
from serving.served import Served
from serving.settings import env_name
from serving.state import State

ADMIN_KEY_ENV = env_name("admin_key")
ADMIN_KEY_HEADER = "X-API-Key"
EXPOSURE_K = 10
EXPOSURE_SAMPLE = 20_000  # buyers scored for the exposure when the lists are not precomputed


class AdminRateLimit:
    """At most ``rate`` (e.g. ``"60/minute"``, the ``limits`` library's notation) admin requests
    per identity in any moving window."""

    def __init__(self, rate: str):
        self.rate = parse(rate)  # checked by the settings
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, identity: str) -> None:
        """Count one request of ``identity``; a 429 with ``Retry-After`` when it is over the limit."""
        if not self.limiter.hit(self.rate, "admin", identity):
            reset = self.limiter.get_window_stats(self.rate, "admin", identity).reset_time
            retry_after = max(1, math.ceil(reset - time.time()))
            raise HTTPException(429, detail=f"too many admin requests: at most {self.rate}; retry in {retry_after} s",
                                headers={"Retry-After": str(retry_after)})

_admin_key_header = APIKeyHeader(name=ADMIN_KEY_HEADER, scheme_name="AdminKey", auto_error=False,
                                 description=f"The admin key (the server's {ADMIN_KEY_ENV}).")


async def require_admin_key(request: Request, state: State,
                            key: Annotated[str | None, Depends(_admin_key_header)]) -> None:
    """403 while ``RECOMMENDER_ADMIN_KEY`` is unset or empty on the server; 429 over the rate
    limit; 401 when the ``X-API-Key`` header is missing or does not match it (compared in
    constant time)."""
    expected = state.settings.admin_key
    if expected is None:
        raise HTTPException(403, detail=f"admin API disabled: set {ADMIN_KEY_ENV}")
    valid = key is not None and len(key) > 0 and hmac.compare_digest(
        key.encode("utf-8", "surrogateescape"), expected.get_secret_value().encode("utf-8", "surrogateescape"))
    client = request.client.host if request.client else "unknown"
    state.admin_rate_limit.hit(f"key:{token_hash(key)}" if key and valid else f"client:{client}")
    if not key:
        raise HTTPException(401, detail=f"missing API key: send the admin key in the {ADMIN_KEY_HEADER} header",
                            headers={"WWW-Authenticate": ADMIN_KEY_HEADER})
    if not valid:
        raise HTTPException(401, detail=f"invalid API key in the {ADMIN_KEY_HEADER} header",
                            headers={"WWW-Authenticate": ADMIN_KEY_HEADER})


router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin_key)])

ADMIN_ERRORS = documented_errors(400, 401, 403, 413, 422, 429, descriptions={
    401: f"Missing or wrong {ADMIN_KEY_HEADER}.", 403: f"Admin API disabled ({ADMIN_KEY_ENV} is not set).",
    422: "Bad body, or a model directory that cannot be served (nothing changed; `detail` says why)."})


@router.post("/v1/admin/reload", response_model=ReloadResponse, openapi_extra=NO_PARAMETERS.openapi,
             responses=ADMIN_ERRORS,
             summary="Load a model directory and serve it (admin key required)",
             description=f"Loads, verifies and prepares `model_dir` (default: the directory being served), one "
                         f"reload at a time, then swaps it in: requests in flight finish on the old model. With "
                         f"several worker processes the others follow within about a second plus their load time. "
                         f"A bad directory is a 422 naming the problem and the old model keeps serving. Needs the "
                         f"`{ADMIN_KEY_HEADER}` header equal to the server's `{ADMIN_KEY_ENV}` (401 when missing "
                         f"or wrong); 403 while `{ADMIN_KEY_ENV}` is not set on the server.")
def reload_model(request: Request, state: State, body: ReloadRequest | None = None) -> Response:
    # a plain def: runs in the threadpool, never blocks the event loop
    NO_PARAMETERS.parse(request)
    swapper = state.swapper
    target = body.model_dir if body is not None and body.model_dir else swapper.path
    if not target:
        raise invalid("body", "model_dir", "no model_dir given and no model directory is being served")
    try:
        previous_version, version, seconds = swapper.swap(target)
    except ModelDirectoryError as exc:
        current = state.model_version
        kept = f"still serving model {current}" if current else "no model is loaded"
        raise invalid("body", "model_dir", f"model not reloaded ({kept}): {exc}") from exc
    shared = state.settings.reload_file
    if shared is not None:
        announce(shared, str(target), version)
    return json_response({"previous_model_version": previous_version, "model_version": version,
                          "model_dir": str(target), "seconds": round(seconds, 3)})


def served_top_lists(served: Served, k: int = EXPOSURE_K) -> np.ndarray:
    """The first ``k`` items (codes, -1 padding) of the buyers' default lists: the precomputed
    lists of every training buyer, else the lists of a sample of :data:`EXPOSURE_SAMPLE` buyers."""
    lists = served.model.default_lists
    if lists is not None and lists.depth >= k:
        return np.where(np.arange(k) < lists.lengths[:, None], lists.codes[:, :k], -1).astype(np.int64)
    engine = served.model.engine
    buyers = np.random.default_rng(0).permutation(len(engine.users))[:EXPOSURE_SAMPLE]
    return engine.recommend_many(np.sort(buyers), k, available=served.live.available)[0]


def _by_group(lists: np.ndarray, labels: np.ndarray, sales: np.ndarray) -> dict[str, Any]:
    table = exposure_table(lists, labels, sales)
    return {"gini": _finite(gini(table.slot_share)), "least_fifth_share": _finite(least_exposed_share(lists, labels)),
            "groups": table.round(6).to_dict("records")}


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


@router.get("/v1/admin/exposure", response_model=ExposureResponse, openapi_extra=NO_PARAMETERS.openapi,
            responses=documented_errors(401, 403, 422, 429, 503, descriptions={
                401: f"Missing or wrong {ADMIN_KEY_HEADER}.", 403: f"Admin API disabled ({ADMIN_KEY_ENV} is not set).",
                503: "No model loaded."}),
            summary="Exposure of regions and merchants in the served lists (admin key required)",
            description="The share of the buyers' top-10 slots each region and merchant gets, next to its share "
                        "of the purchases, with the Gini coefficient and the least-exposed fifth's share: the "
                        "organic default lists of the served model, before campaign placements.")
def served_exposure(request: Request, state: State) -> Response:
    # a plain def: counting (or scoring a sample) runs in the threadpool
    NO_PARAMETERS.parse(request)
    served = state.current()
    engine = served.model.engine
    lists = served_top_lists(served)
    sales = engine.item_sales
    # the loaders give every catalog a region and a merchant_id, "unknown" where missing
    labels = {column: engine.catalog[column].astype(str).to_numpy() for column in ("region", "merchant_id")}
    return json_response({"model_version": served.model.model_version, "buyers": len(lists), "k": lists.shape[1],
                          "long_tail_share": _finite(long_tail_share(lists, sales)),
                          "region": _by_group(lists, labels["region"], sales),
                          "merchant": _by_group(lists, labels["merchant_id"], sales)})
