"""The hot routes' plumbing: pydantic models validate the path and query, orjson writes the answer.

FastAPI validates each declared parameter on its own, solves the route's dependencies and runs
the answer through the response model again; on ``/v1/users/{user_id}/recommendations`` (seven
query parameters, twenty items) that plumbing cost more CPU than the recommendation itself. The
list routes (:class:`serving.routing.LeanRoute`) instead

* declare their path and query as pydantic models (:class:`serving.schemas.BuyerPath`,
  :class:`serving.schemas.RecommendationsQuery`, ...) and publish their fields as parameters
  (:func:`openapi_parameters`, passed as ``openapi_extra``), so ``/openapi.json`` documents them
  like any other route;
* validate each with one call (:func:`validated`), whose errors are the same 422 as FastAPI's
  (location ``["query", name]`` or ``["path", name]``);
* keep ``response_model`` for the documentation and answer with :func:`json_response`; the tests
  validate these answers against the response models.

The merchant forecast route answers with :func:`json_response` too: its answers run to thousands
of rows, which FastAPI's response validation took tens of milliseconds to check.
"""
from __future__ import annotations

from collections.abc import Mapping

import orjson
from fastapi import Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

JSON_MEDIA_TYPE = "application/json"
PARAMETER_KEYS = ("description", "deprecated")  # keys of the OpenAPI parameter; the rest (examples too) is its schema


def _parameters(model: type[BaseModel], location: str) -> list[dict]:
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        parameter = {"name": name, "in": location, "required": name in required}
        parameter.update({key: field[key] for key in PARAMETER_KEYS if key in field})
        parameter["schema"] = {key: value for key, value in field.items() if key not in PARAMETER_KEYS}
        parameters.append(parameter)
    return parameters


def openapi_parameters(path: type[BaseModel] | None = None, query: type[BaseModel] | None = None) -> dict:
    """``openapi_extra`` publishing the fields of ``path`` as path parameters and those of
    ``query`` as query parameters (required when the field has no default)."""
    return {"parameters": [parameter for model, location in ((path, "path"), (query, "query")) if model is not None
                           for parameter in _parameters(model, location)]}


def query_names(openapi_extra: dict | None) -> set[str]:
    """The query parameter names :func:`openapi_parameters` published in ``openapi_extra``."""
    return {p["name"] for p in (openapi_extra or {}).get("parameters", ()) if p.get("in") == "query"}


def validated(values: Mapping[str, str], model: type[BaseModel], location: str) -> BaseModel:
    """The request's ``location`` ("path" or "query") parameters ``values`` validated by ``model``
    (a repeated query parameter counts with its last value, as in FastAPI); a
    ``RequestValidationError`` (422) naming each bad parameter otherwise."""
    try:
        return model.model_validate_strings(dict(values))
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": (location, *error["loc"])}
                                      for error in exc.errors(include_url=False)]) from None


def json_response(payload: dict) -> Response:
    """``payload`` (plain Python values) as a JSON response."""
    return Response(orjson.dumps(payload), media_type=JSON_MEDIA_TYPE)
