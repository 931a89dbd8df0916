"""Answers and errors: JSON written once by orjson, and one error shape for every 4xx and 5xx.

Routes answer with :func:`json_response` (a ``Response`` carrying the encoded JSON, which FastAPI
passes on without validating it again against the route's ``response_model``: the list routes'
answers are checked against their models by the tests and by the schemathesis run). Every error,
whatever raised it (a route's ``HTTPException``, FastAPI's request validation, Starlette's 404 and
405, the body limit, an unexpected exception), is answered as
:class:`~serving.schemas.ErrorResponse`: ``{"detail": "<in words>", "errors": [<bad fields>]}``
(:func:`install_error_handlers`); :func:`documented_errors` documents it per route and status.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.schemas import ErrorResponse

log = logging.getLogger(__name__)

JSON_MEDIA_TYPE = "application/json"

ERROR_DESCRIPTIONS = {
    400: "The body could not be read as JSON text (e.g. it is not UTF-8).",
    401: "Missing or wrong credentials.",
    403: "Not allowed.",
    404: "Not found.",
    413: "The body is too large.",
    422: "Bad parameters or body: `errors` names each bad field (an unknown query parameter has the type "
         "`extra_forbidden`).",
    429: "Too many requests with this key: retry after `Retry-After` seconds.",
    503: "Not ready: no model loaded.",
}


def json_response(payload: object, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``payload`` (plain Python values) as a JSON response."""
    return Response(orjson.dumps(payload), status_code=status_code, headers=headers, media_type=JSON_MEDIA_TYPE)


def error_response(status_code: int, detail: str, errors: list[dict[str, Any]] | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    """An error answer in the one error shape (:class:`~serving.schemas.ErrorResponse`)."""
    return json_response({"detail": detail, "errors": errors or []}, status_code, headers)


def invalid(location: str, name: str, message: str) -> RequestValidationError:
    """A 422 naming one bad request field (``location`` "path", "query" or "body", then ``name``)
    that validation alone could not catch, e.g. a category the catalog does not have."""
    return RequestValidationError([{"loc": (location, name), "msg": message, "type": "value_error"}])


def documented_errors(*statuses: int, descriptions: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses``: each of ``statuses`` answered with the error shape, described by
    ``descriptions`` where given, else by :data:`ERROR_DESCRIPTIONS`."""
    descriptions = {**ERROR_DESCRIPTIONS, **(descriptions or {})}
    return {status: {"model": ErrorResponse, "description": descriptions[status]} for status in statuses}


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        loc, kind = [str(part) if not isinstance(part, int) else part for part in error.get("loc", ())], error["type"]
        message = "unknown query parameter" if kind == "extra_forbidden" and loc[:1] == ["query"] else error["msg"]
        errors.append({"loc": loc, "msg": message, "type": kind})
    return errors


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` in the one error shape."""

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = _field_errors(exc)
        detail = "; ".join(f"{'.'.join(str(part) for part in e['loc'][1:] or e['loc'])}: {e['msg']}" for e in errors)
        return error_response(422, detail or "invalid request", errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal server error ({type(exc).__name__}); the error has been logged")
