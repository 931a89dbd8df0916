"""Path and query parameters: a pydantic model each, validated in one call inside the route and
published as the route's OpenAPI parameters.

FastAPI's own way (``Annotated[Model, Query()]``, ``Path()``, ``Depends``) solves every parameter
and sub-dependency again on each request: with the served model, the path and the query as
dependencies, dependency solving took more CPU than the recommendation itself (a default
recommendation request 225 us in-process against 88 us without it; ``bench/serve.py``
recommendations at 0.47 of ``/healthz``'s throughput with query models, 0.54 with query
dependencies). So the hot routes take only the ``Request``, and a :class:`Parameters` validates
``request.path_params`` and the query string with the route's models (a query string seen
recently is not validated again: its frozen model is reused), with FastAPI's 422
(``loc`` ``["path" | "query", name]``, both locations' errors together; unknown query names
refused by the model's ``extra="forbid"``). The route publishes the same models as its parameters
(``openapi_extra=Parameters.openapi``): what the OpenAPI page shows is what validates.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Generic, TypeVar, cast, overload

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams

from serving.schemas import NoQuery

PARAMETER_KEYS = ("description", "deprecated")  # keys of the OpenAPI parameter; the rest (examples too) is its schema
QUERY_CACHE_SIZE = 256  # distinct query strings remembered per route, validated (storefronts repeat a few)

QueryT = TypeVar("QueryT", bound=BaseModel)
PathT = TypeVar("PathT", bound=BaseModel | None)  # None: the route has no path parameters
ValuesT = TypeVar("ValuesT")
ModelT = TypeVar("ModelT", bound=BaseModel)


def _openapi_parameters(model: type[BaseModel], location: str) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema.get("properties", {}).items():
        parameter: dict[str, Any] = {"name": name, "in": location, "required": location == "path" or name in required}
        parameter.update({key: field[key] for key in PARAMETER_KEYS if key in field})
        parameter["schema"] = {key: value for key, value in field.items() if key not in PARAMETER_KEYS}
        parameters.append(parameter)
    return parameters


def _validated(validate: Callable[[ValuesT], ModelT], values: ValuesT, location: str,
               errors: list[dict[str, Any]]) -> ModelT | None:
    try:
        return validate(values)
    except ValidationError as exc:
        errors.extend({**error, "loc": (location, *error["loc"])} for error in exc.errors(include_url=False))
        return None


class Parameters(Generic[QueryT, PathT]):
    """A route's path parameters (``path``, a model, or ``None``) and query parameters (``query``;
    by default none are accepted)."""

    @overload
    def __init__(self: Parameters[NoQuery, None]) -> None: ...
    @overload
    def __init__(self: Parameters[NoQuery, PathT], *, path: type[PathT]) -> None: ...
    @overload
    def __init__(self: Parameters[QueryT, None], query: type[QueryT]) -> None: ...
    @overload
    def __init__(self, query: type[QueryT], path: type[PathT]) -> None: ...

    def __init__(self, query: type[Any] = NoQuery, path: type[Any] | None = None) -> None:
        self.query_model: type[QueryT] = query
        self.path_model: type[BaseModel] | None = path
        path_parameters = [] if path is None else _openapi_parameters(path, "path")
        # the route's openapi_extra
        self.openapi = {"parameters": path_parameters + _openapi_parameters(query, "query")}
        # a query string validated once answers its repeats (the models are frozen; errors are not cached)
        self._query_of = lru_cache(maxsize=QUERY_CACHE_SIZE)(self._validate_query_string)

    def _validate_query_string(self, query_string: bytes) -> QueryT:
        return self.query_model.model_validate_strings(dict(QueryParams(query_string)))

    def parse(self, request: Request) -> tuple[PathT, QueryT]:
        """The request's path parameters (``None`` without a path model) and query parameters
        (a repeated one counts with its last value, as in FastAPI), or a 422 naming every bad one."""
        errors: list[dict[str, Any]] = []
        path_model = self.path_model
        path = None if path_model is None else _validated(path_model.model_validate_strings, request.path_params,
                                                          "path", errors)
        query = _validated(self._query_of, request.scope["query_string"], "query", errors)
        if errors:
            raise RequestValidationError(errors)
        # both validated: the path is None only without a path model (PathT None)
        return cast(PathT, path), cast(QueryT, query)


NO_PARAMETERS = Parameters()  # the /v1 routes without path or query parameters: any query parameter is refused
