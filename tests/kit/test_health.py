"""HealthServer: liveness, readiness checks with timeouts, metrics, on a real port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from maily.kit.health import (
    HealthServer,
    build_health_app,
    database_check,
    redis_check,
    run_checks,
)


async def passing() -> None:
    return None


async def refusing() -> None:
    raise ConnectionRefusedError("connection refused by 10.0.0.7:5432")


async def hanging() -> None:
    await asyncio.Event().wait()


def closed_port() -> int:
    """A port nothing listens on (bound and released, so it is free right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def server() -> AsyncIterator[HealthServer]:
    server = HealthServer("127.0.0.1", 0, {"database": passing, "queue": refusing})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(server: HealthServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        yield client


async def test_port_zero_binds_a_real_port(server: HealthServer) -> None:
    assert server.port > 0


async def test_healthz_answers_while_alive(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_names_the_failed_check(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["queue"]["status"] == "failed"
    assert body["checks"]["queue"]["error"] == (
        "ConnectionRefusedError: connection refused by 10.0.0.7:5432"
    )


async def test_metrics_are_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert "# TYPE maily_role_up gauge" in response.text


async def test_readyz_ok_when_every_check_passes() -> None:
    app = build_health_app({"database": passing, "redis": passing})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://health") as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": {"status": "ok"}, "redis": {"status": "ok"}},
    }


async def test_a_hanging_check_fails_at_its_timeout() -> None:
    ready, results = await run_checks({"smtp": hanging, "database": passing}, check_timeout=0.05)

    assert not ready
    assert results == {
        "smtp": {"status": "failed", "error": "no answer within 0.05s"},
        "database": {"status": "ok"},
    }


async def test_stop_closes_the_port() -> None:
    server = HealthServer("127.0.0.1", 0)
    await server.start()
    port = server.port
    await server.stop()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


async def test_a_taken_port_fails_start(server: HealthServer) -> None:
    other = HealthServer("127.0.0.1", server.port)

    with pytest.raises(OSError, match="already in use"):
        await other.start()


async def test_database_check_against_the_real_database(engine: AsyncEngine) -> None:
    ready, results = await run_checks({"database": database_check(engine)})

    assert ready, results


async def test_database_check_fails_when_unreachable() -> None:
    engine = create_async_engine(f"postgresql+asyncpg://maily:x@127.0.0.1:{closed_port()}/maily")
    try:
        ready, results = await run_checks({"database": database_check(engine)}, check_timeout=1)
    finally:
        await engine.dispose()

    assert not ready
    assert results["database"]["status"] == "failed"


async def test_redis_check_against_the_real_redis(redis: Redis) -> None:
    ready, results = await run_checks({"redis": redis_check(redis)})

    assert ready, results


async def test_redis_check_fails_when_unreachable() -> None:
    client = Redis(host="127.0.0.1", port=closed_port())
    try:
        # redis-py retries a refused connection; either way the check must fail.
        ready, results = await run_checks({"redis": redis_check(client)}, check_timeout=1)
    finally:
        await client.aclose()

    assert not ready
    assert results["redis"]["status"] == "failed"
