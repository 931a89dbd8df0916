"""The app's state, typed: one :class:`ServingState` per app, stored once by ``create_app``.

Routes reach it through the FastAPI dependency :data:`State` (``state: State`` in their
signature), except the routes every page view calls (recommendations, ``/v1/rank``, similar
items, popular items, the catalog's facets), which take only the ``Request`` and call the typed
accessor :func:`state_of`: solving a dependency there costs more than their own work
(``serving/parameters.py``). Either way a request reads the served model once, at its start
(:meth:`ServingState.current`), so a model swapped in meanwhile serves the next request.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, HTTPException, Request

from serving.metrics import Metrics
from serving.served import ModelSwapper
from serving.settings import ServingSettings, env_name

if TYPE_CHECKING:
    from recommender.forecasting.published import PublishedForecasts
    from recommender.merchant_tokens import MerchantTokens
    from recommender.store import EventStore, GroupCommit
    from serving.batching import RecommendationBatcher
    from serving.routes.admin import AdminRateLimit
    from serving.served import Served


@dataclass(eq=False)
class ServingState:
    """What a running app holds. Only the swapper replaces :attr:`served` (reloads, new items) and
    only the watcher :attr:`forecasts` and :attr:`merchant_tokens`, each whole; the rest is fixed."""

    settings: ServingSettings
    store: EventStore | None  # POST /v1/events, items, campaigns, the registry; None: they answer 503
    event_writer: GroupCommit | None  # the store's group commit of event batches
    ingest_key_hashes: frozenset[str]  # SHA-256 of the storefronts' keys
    admin_rate_limit: AdminRateLimit
    batcher: RecommendationBatcher
    served: Served | None = None  # the model snapshot and its live overlay; None: the model routes answer 503
    forecasts: PublishedForecasts | None = None
    merchant_tokens: MerchantTokens | None = None
    metrics: Metrics = field(init=False)
    swapper: ModelSwapper = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = Metrics(lambda: self.model_version)
        self.swapper = ModelSwapper(self)

    @property
    def model_version(self) -> str | None:
        """The version of the model served now (None without one)."""
        served = self.served
        return None if served is None else served.model.model_version

    def current(self) -> Served:
        """The model being served and its live overlay (read once per request, at its start), or 503."""
        served = self.served
        if served is None:
            raise HTTPException(503, detail="no model is loaded; the service is not ready")
        return served

    def event_store(self) -> EventStore:
        """The event store, or 503."""
        if self.store is None:
            raise _no_store()
        return self.store

    def event_batches(self) -> GroupCommit:
        """The event store's group commit of event batches, or 503 (there is one with a store)."""
        if self.event_writer is None:
            raise _no_store()
        return self.event_writer


def _no_store() -> HTTPException:
    return HTTPException(503, detail=f"no event store: start the server with --store URL (or {env_name('store')})")


def state_of(app: FastAPI) -> ServingState:
    """The app's state (the typed accessor)."""
    state: ServingState = app.state.serving
    return state


async def serving_state(request: Request) -> ServingState:
    """The state of the request's app (the dependency; ``async``: solved on the event loop, no thread hop)."""
    return state_of(request.app)


State = Annotated[ServingState, Depends(serving_state)]
