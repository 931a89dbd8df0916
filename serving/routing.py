"""The route class of the API: undeclared query parameters are a 422 naming them."""
from __future__ import annotations

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from serving.lean_routes import query_names


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
        handler = super().get_route_handler()
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
