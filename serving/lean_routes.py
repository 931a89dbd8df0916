"""The hot routes' plumbing: one pydantic model validates the whole query, orjson writes the answer.

FastAPI validates each declared query parameter on its own and runs its response through the
response model again; on ``/v1/users/{user_id}/recommendations`` (seven query parameters, twenty
items) that plumbing cost more CPU than the recommendation itself: about 60 us for the parameters
and 30 us for the response, against 10 us for a pydantic model validating the query in one call
and 3 us for orjson. Routes built this way

* declare the query as a pydantic model (:class:`serving.schemas.RecommendationsQuery`) and
  publish its fields as query parameters (:func:`query_parameters`, passed as ``openapi_extra``),
  so ``/openapi.json`` documents them like any other route;
* validate it with :func:`validated_query`, whose errors are the same 422 as FastAPI's (location
  ``["query", name]``);
* keep ``response_model`` for the documentation and answer with :func:`json_response`; the tests
  validate these answers against the response models.

The merchant forecast route answers with :func:`json_response` too: its answers run to thousands
of rows, which FastAPI's response validation took tens of milliseconds to check.
"""
from __future__ import annotations

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

JSON_MEDIA_TYPE = "application/json"
PARAMETER_KEYS = ("description", "deprecated")  # keys of the OpenAPI parameter; the rest (examples too) is its schema


def query_parameters(model: type[BaseModel]) -> dict:
    """``openapi_extra`` publishing the fields of ``model`` as optional query parameters."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        parameter = {"name": name, "in": "query", "required": name in required}
        parameter.update({key: field[key] for key in PARAMETER_KEYS if key in field})
        parameter["schema"] = {key: value for key, value in field.items() if key not in PARAMETER_KEYS}
        parameters.append(parameter)
    return {"parameters": parameters}


def query_names(openapi_extra: dict | None) -> set[str]:
    """The query parameter names :func:`query_parameters` published in ``openapi_extra``."""
    return {p["name"] for p in (openapi_extra or {}).get("parameters", ()) if p.get("in") == "query"}


def validated_query(request: Request, model: type[BaseModel]) -> BaseModel:
    """The request's query string validated by ``model`` (a repeated parameter counts with its last
    value, as in FastAPI); a ``RequestValidationError`` (422) naming each bad parameter otherwise."""
    try:
        return model.model_validate_strings(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("query", *error["loc"])}
                                      for error in exc.errors(include_url=False)]) from None


def json_response(payload: dict) -> Response:
    """``payload`` (plain Python values) as a JSON response."""
    return Response(orjson.dumps(payload), media_type=JSON_MEDIA_TYPE)
