"""RequestIdMiddleware: one sane id per request, in the response header and every log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, Request

from maily.config import Settings
from maily.kit.logging import configure_logging, get_logger
from maily.kit.requestid import HEADER, RequestIdMiddleware, accept_request_id


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(Settings(_env_file=None), stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Maily's own lines (the test client logs its requests too)."""
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in parsed if line["logger"].startswith("maily.")]


def make_app() -> FastAPI:
    app = FastAPI()
    log = get_logger("maily.test")

    @app.get("/contacts/{contact_id}")
    async def contact(contact_id: int, request: Request) -> dict[str, Any]:
        log.info("loading contact", contact_id=contact_id)
        return {"request_id": request.scope["state"]["request_id"]}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_middleware(RequestIdMiddleware)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_mints_an_id_and_logs_with_it(
    client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    response = await client.get("/contacts/7", params={"token": "secret"})

    request_id = response.headers[HEADER]
    assert len(request_id) == 32
    assert response.json() == {"request_id": request_id}
    app_line, access_line = lines(log_stream)
    assert app_line["message"] == "loading contact"
    assert app_line["request_id"] == request_id
    assert access_line["logger"] == "maily.access"
    assert access_line["request_id"] == request_id
    assert access_line["method"] == "GET"
    assert access_line["path"] == "/contacts/7"
    assert access_line["status"] == 200
    assert access_line["duration_ms"] >= 0
    assert "secret" not in json.dumps(access_line)


async def test_keeps_a_sane_incoming_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/contacts/1", headers={HEADER: "lb-2f1c:9a.01"})

    assert response.headers[HEADER] == "lb-2f1c:9a.01"


@pytest.mark.parametrize(
    "incoming",
    ["", "x" * 129, "has space", 'quote"d', "new\nline", "-leading-dash", "ünïcode"],
)
def test_replaces_an_unsafe_incoming_id(incoming: str) -> None:
    request_id = accept_request_id(incoming)

    assert request_id != incoming
    assert len(request_id) == 32


async def test_unsafe_header_is_replaced_end_to_end(client: httpx.AsyncClient) -> None:
    response = await client.get("/contacts/1", headers={HEADER: "a" * 200})

    assert response.headers[HEADER] != "a" * 200


async def test_each_request_gets_its_own_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/contacts/1")
    second = await client.get("/contacts/1")

    assert first.headers[HEADER] != second.headers[HEADER]
    assert "request_id" not in structlog.contextvars.get_contextvars()


async def test_failed_request_is_logged_as_500(
    client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    response = await client.get("/boom")

    assert response.status_code == 500
    access = [line for line in lines(log_stream) if line["logger"] == "maily.access"]
    assert len(access) == 1
    assert access[0]["status"] == 500
    assert access[0]["level"] == "error"
    assert access[0]["path"] == "/boom"
