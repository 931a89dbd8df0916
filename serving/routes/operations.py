"""Operations: liveness, readiness, the served model's manifest and Prometheus metrics.

``GET /metrics`` is not authenticated (restrict it at the network level if needed); see
:mod:`serving.metrics` for what it counts.
"""
from __future__ import annotations

from fastapi import APIRouter, Request, Response

from recommender.store import from_us
from serving.metrics import CONTENT_TYPE_LATEST
from serving.parameters import NO_PARAMETERS
from serving.responses import documented_errors, json_response
from serving.schemas import HealthResponse, ModelInfo, ModelsResponse, ReadyResponse
from serving.state import State

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=HealthResponse, summary="Liveness: the process answers")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", response_model=ReadyResponse, responses=documented_errors(503),
            summary="Readiness: 200 once a model is loaded and the event store replayed, 503 without a model",
            description="A worker starts listening only after its first replay of the event store (up to the "
                        "moment it started), so every answer, this one included, reflects the events "
                        "acknowledged before it started.")
async def readyz(state: State) -> Response:
    return json_response({"status": "ready", "model_version": state.current().model.model_version})


@router.get("/v1/model", response_model=ModelInfo, openapi_extra=NO_PARAMETERS.openapi, tags=["model"],
            responses=documented_errors(422, 503),
            summary="The manifest of the model being served",
            description="The manifest, with the niche knob the served model uses by default and a buyer it "
                        "knows to try it on (`example_buyer`).")
async def model_info(request: Request, state: State) -> Response:
    model = state.current().model
    NO_PARAMETERS.parse(request)
    engine = model.engine
    return json_response({**model.manifest, "default_niche": engine.default_niche,
                          "example_buyer": engine.example_buyer()})


@router.get("/v1/models", response_model=ModelsResponse, openapi_extra=NO_PARAMETERS.openapi, tags=["model"],
            responses=documented_errors(422, 503, descriptions={503: "No event store."}),
            summary="The model registry: every model `recommender retrain` trained, newest first")
def registered_models(request: Request, state: State) -> Response:
    # a plain def: the store's read runs in the threadpool
    NO_PARAMETERS.parse(request)
    records = state.event_store().models.newest_first()
    return json_response({"models": [
        {**{name: value for name, value in record.__dict__.items() if name != "created_us"},
         "created_at": from_us(record.created_us).isoformat()}
        for record in records]})


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
            summary="Prometheus metrics: requests, latencies, served model version")
async def prometheus_metrics(state: State) -> Response:
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
