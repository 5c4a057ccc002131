"""Tracing: FastAPI request spans, and log lines that carry the same trace id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis
from sqlalchemy import text

from maily.api.tracing import instrument_app
from maily.config import Settings
from maily.kit.db import create_engine
from maily.kit.logging import configure_logging, get_logger
from maily.kit.requestid import HEADER, RequestIdMiddleware
from maily.kit.tracing import configure_tracing, instrument_database, instrument_redis


def make_settings(**observability: Any) -> Settings:
    return Settings(_env_file=None, observability=observability)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(make_settings(), stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    # Kept private (not the process-wide provider), so other tests run untraced.
    provider = configure_tracing(
        make_settings(tracing_enabled=True), "api", exporter, set_global=False
    )
    assert provider is not None
    return provider


def make_app(provider: TracerProvider | None) -> FastAPI:
    app = FastAPI()
    log = get_logger("maily.test")

    @app.get("/segments/{segment_id}")
    async def segment(segment_id: int) -> dict[str, int]:
        log.info("counting segment", segment_id=segment_id)
        return {"id": segment_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(RequestIdMiddleware)
    instrument_app(app, provider)
    return app


@pytest.fixture
async def client(provider: TracerProvider) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def maily_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in parsed if line["logger"].startswith("maily.")]


def test_tracing_is_off_unless_enabled(exporter: InMemorySpanExporter) -> None:
    assert configure_tracing(make_settings(), "api", exporter) is None


async def test_request_span_and_its_log_lines_share_the_trace_id(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter, log_stream: io.StringIO
) -> None:
    response = await client.get("/segments/12")
    assert response.status_code == 200

    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert span.name == "GET /segments/{segment_id}"
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/segments/{segment_id}"
    assert span.attributes["maily.request_id"] == response.headers[HEADER]
    assert span.resource.attributes["service.name"] == "maily-api"
    trace_id = format(span.context.trace_id, "032x")
    span_id = format(span.context.span_id, "016x")

    app_line, access_line = maily_lines(log_stream)
    assert app_line["message"] == "counting segment"
    assert access_line["logger"] == "maily.access"
    for line in (app_line, access_line):
        assert line["trace_id"] == trace_id
        assert line["span_id"] == span_id
        assert line["request_id"] == response.headers[HEADER]


async def test_incoming_trace_context_is_continued(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"

    await client.get("/segments/1", headers={"traceparent": traceparent})

    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == "00f067aa0ba902b7"


async def test_probes_are_not_traced(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    assert (await client.get("/healthz")).status_code == 200

    assert exporter.get_finished_spans() == ()


async def test_instrument_app_without_tracing_adds_nothing(log_stream: io.StringIO) -> None:
    app = make_app(None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.get("/segments/3")

    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert all("trace_id" not in line for line in maily_lines(log_stream))


async def test_sql_and_redis_calls_join_the_current_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter, database_url: str, redis: Redis
) -> None:
    engine = create_engine(database_url)
    instrument_database(provider)
    instrument_redis(provider)
    try:
        with provider.get_tracer("test").start_as_current_span("send batch") as parent:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            await redis.set("tracing-test", "1")
    finally:
        # Both instrumentors patch process-wide; leave other tests untraced.
        AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
        RedisInstrumentor().uninstrument()
        await engine.dispose()

    trace_id = parent.get_span_context().trace_id
    children = [s for s in exporter.get_finished_spans() if s.name != "send batch"]
    statements = [str((s.attributes or {}).get("db.statement")) for s in children]
    assert any("SELECT 1" in statement for statement in statements), statements
    assert any("SET" in s.name for s in children), [s.name for s in children]
    assert all(s.context.trace_id == trace_id for s in children)
