"""The route classes of the API.

* :class:`StrictQueryRoute` (every route): undeclared query parameters are a 422 naming them.
* :class:`LeanRoute` (the list routes storefronts call per page view, registered with
  :func:`lean_get`): the endpoint gets the request and its path and query validated by pydantic
  models, without FastAPI's per-request dependency solving (about 15 us of CPU per request, over
  a quarter of a whole /healthz answer in-process). :func:`hot_routes_first` moves them to
  the front of the route list: Starlette tries the routes in order, one regular expression each.
"""
from __future__ import annotations

from functools import partial

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import request_response

from serving.lean_routes import openapi_parameters, query_names, validated


def _query_names(dependant) -> set[str]:
    """The query parameter names a route's signature declares, its dependencies' included."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


class StrictQueryRoute(APIRoute):
    """A route that answers 422 to query parameters it does not declare, naming them (a misspelt
    filter must not be silently ignored). Cheaper than a dependency per route: one set
    difference, only when there is a query string."""

    def get_route_handler(self):
        handler = self.endpoint_handler()
        allowed = frozenset(_query_names(self.dependant) | query_names(self.openapi_extra))

        async def strict_handler(request: Request) -> Response:
            if request.scope.get("query_string"):
                unknown = sorted(set(request.query_params.keys()) - allowed)
                if unknown:
                    accepted = ", ".join(sorted(allowed)) if allowed else "none"
                    raise HTTPException(422, detail=f"unknown query parameter(s): "
                                                    f"{', '.join(repr(u) for u in unknown)}; "
                                                    f"this endpoint accepts: {accepted}")
            return await handler(request)

        return strict_handler

    def endpoint_handler(self):
        """``request -> response`` for the endpoint: FastAPI's (parameters, dependencies, response model)."""
        return super().get_route_handler()


def _validating(endpoint, path_model: type[BaseModel] | None, query_model: type[BaseModel] | None):
    """``request -> response``: ``endpoint`` called with the request's path and query validated by
    the models. Its signature (the request only) is what FastAPI inspects, so FastAPI derives no
    parameters or body from the route; the models publish them (:class:`LeanRoute`)."""
    async def validating(request: Request) -> Response:
        arguments = {}
        if path_model is not None:
            arguments["path"] = validated(request.path_params, path_model, "path")
        if query_model is not None:
            arguments["query"] = validated(request.query_params, query_model, "query")
        return await endpoint(request, **arguments)

    validating.__name__ = validating.__qualname__ = endpoint.__name__  # the route's name and operation id
    return validating


class LeanRoute(StrictQueryRoute):
    """A route whose ``async`` endpoint is called as ``endpoint(request, path=..., query=...)``,
    the request's path and query parameters validated by ``path_model`` and ``query_model`` (each
    argument only when its model is given), and returns a ``Response``. The models are published
    as the route's parameters in the OpenAPI schema; ``response_model`` documents the answer but
    does not check it. Dependencies (the route's, its router's or the app's) would never run, so
    they are refused."""

    def __init__(self, path: str, endpoint, *, path_model: type[BaseModel] | None = None,
                 query_model: type[BaseModel] | None = None, openapi_extra: dict | None = None, **options):
        extra = dict(openapi_extra or {})
        extra["parameters"] = extra.get("parameters", []) + openapi_parameters(path_model, query_model)["parameters"]
        super().__init__(path, _validating(endpoint, path_model, query_model), openapi_extra=extra, **options)
        if self.dependant.dependencies:
            raise ValueError(f"lean route {path} cannot have dependencies: they would not run")
        # Starlette's request -> response adapter: FastAPI's adds the exit stacks of dependencies
        # with ``yield`` and a per-route body limit, and a lean GET route has neither (the app's
        # body limit still applies)
        self.app = request_response(self.get_route_handler())

    def endpoint_handler(self):
        return self.endpoint


def lean_get(router: APIRouter, path: str, *, path_model: type[BaseModel] | None = None,
             query_model: type[BaseModel] | None = None, **options):
    """Decorator registering a :class:`LeanRoute` for ``GET path`` on ``router`` (``options`` as
    in ``router.get``, except ``dependencies``: refused)."""
    def register(endpoint):
        router.add_api_route(path, endpoint, methods=["GET"], **options,
                             route_class_override=partial(LeanRoute, path_model=path_model, query_model=query_model))
        return endpoint
    return register


def hot_routes_first(router: APIRouter) -> None:
    """Move the :class:`LeanRoute` routes to the front of ``router``'s routes, keeping each group's
    order. The API's paths do not overlap, so every request finds the same route, sooner; the
    OpenAPI page lists these routes first."""
    router.routes.sort(key=lambda route: not isinstance(route, LeanRoute))
