"""Query parameters: one pydantic model per route, validated in one call, published as the route's
OpenAPI parameters.

FastAPI's own query models (``Annotated[Model, Query()]``) work out each field's aliases and type
facts again on every request: 68 us of CPU for the seven fields of the recommendations query
(FastAPI 0.165), more than the recommendation itself, and in ``bench/serve.py`` recommendations
fell from 0.94 to 0.47 of ``/healthz``'s throughput with them. So a route takes its query through
a dependency, a :class:`QueryModel`, which validates ``request.query_params`` with the model in one
call, with the same 422s (``loc`` ``["query", name]``; unknown names refused by the model's
``extra="forbid"``), and the route publishes the model's fields as its parameters
(``openapi_extra=QueryModel.openapi``): what the OpenAPI page shows is the model that validates.
"""
from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from serving.schemas import NoQuery

PARAMETER_KEYS = ("description", "deprecated")  # keys of the OpenAPI parameter; the rest (examples too) is its schema


class QueryModel:
    """A dependency returning the request's query parameters validated by ``model`` (a repeated
    parameter counts with its last value, as in FastAPI), or raising a 422 naming each bad one."""

    def __init__(self, model: type[BaseModel]):
        self.model = model
        schema = model.model_json_schema()
        required = set(schema.get("required", ()))
        parameters = []
        for name, field in schema.get("properties", {}).items():
            parameter = {"name": name, "in": "query", "required": name in required}
            parameter.update({key: field[key] for key in PARAMETER_KEYS if key in field})
            parameter["schema"] = {key: value for key, value in field.items() if key not in PARAMETER_KEYS}
            parameters.append(parameter)
        self.openapi = {"parameters": parameters}  # the route's openapi_extra: the model's fields as query parameters

    async def __call__(self, request: Request) -> BaseModel:
        try:
            return self.model.model_validate_strings(dict(request.query_params))
        except ValidationError as exc:
            raise RequestValidationError([{**error, "loc": ("query", *error["loc"])}
                                          for error in exc.errors(include_url=False)]) from None


NO_QUERY = QueryModel(NoQuery)  # the /v1 routes without query parameters: any is refused
