"""Request ids: accept or mint `X-Request-ID`, bind it to every log line, write the access log."""

from __future__ import annotations

import re
import uuid
from time import perf_counter
from typing import Final

import structlog
from opentelemetry import trace
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER: Final = "X-Request-ID"
_HEADER_KEY: Final = HEADER.lower().encode("latin-1")
# Ids from proxies and clients are echoed into logs and responses, so only a short,
# plain token is trusted: no spaces, quotes, control characters or log-forging newlines.
_VALID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")

_access_log = structlog.stdlib.get_logger("maily.access")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The incoming id when it is sane, otherwise a fresh one."""
    if value is not None and _VALID.fullmatch(value):
        return value
    return new_request_id()


def _incoming_request_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == _HEADER_KEY:
            try:
                return str(value.decode("ascii"))
            except UnicodeDecodeError:
                return None
    return None


class RequestIdMiddleware:
    """Pure ASGI middleware: one request id per HTTP request or WebSocket connection.

    The id is bound into structlog's context variables for the duration of the
    request (so every line logged while handling it carries `request_id`), stored in
    `scope["state"]["request_id"]`, added to the current span and sent back in the
    `X-Request-ID` response header. After an HTTP response it logs one access line.

    Add it with `app.add_middleware(RequestIdMiddleware)`: it then runs inside the
    OpenTelemetry server span, so the access line carries the trace id too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        request_id = accept_request_id(_incoming_request_id(scope))
        scope.setdefault("state", {})["request_id"] = request_id
        trace.get_current_span().set_attribute("maily.request_id", request_id)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, request_id)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        method, path = scope["method"], scope["path"]  # before routing rewrites the scope
        status = 500  # what the client gets if the app raises before answering

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        started = perf_counter()
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            duration_ms = round((perf_counter() - started) * 1000, 2)
            # The query string stays out: signed links and tokens travel in it.
            log = _access_log.error if status >= 500 else _access_log.info
            log(
                "request",
                method=method,
                path=path,
                status=status,
                duration_ms=duration_ms,
            )
