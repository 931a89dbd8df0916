"""A cap on request bodies, answered in the API's error shape.

Starlette's own limit (FastAPI's ``max_body_size``) answers a declared ``Content-Length`` over the
cap with a plain-text 413 in place of whatever the app answered, outside the app's error
handlers; this pure ASGI middleware answers that case itself, in the error shape, before the app
runs, and raises a 413 ``HTTPException`` (answered by the app's handler) as soon as a body sent
without a length (chunked) passes the cap.
"""
from __future__ import annotations

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.responses import error_response


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self) -> str:
        return f"request body too large: at most {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(413, self._too_large())(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, detail=self._too_large())
            return message

        await self.app(scope, receive_within_limit, send)
