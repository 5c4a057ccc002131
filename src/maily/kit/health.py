"""Health side port of a role: /healthz (alive), /readyz (dependencies answer), /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final, cast

import uvicorn
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from maily.kit.logging import get_logger
from maily.kit.metrics import metrics_endpoint

Check = Callable[[], Awaitable[None]]
"""A readiness check: returns when the dependency answers, raises when it does not."""

DEFAULT_CHECK_TIMEOUT: Final = 2.0
_STARTUP_TIMEOUT: Final = 10.0
_ERROR_TEXT_LIMIT: Final = 300

_log = get_logger("maily.health")


def database_check(engine: AsyncEngine) -> Check:
    """Ready when PostgreSQL answers `SELECT 1` through the engine's pool."""

    async def database() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return database


def redis_check(client: Redis) -> Check:
    """Ready when Redis answers PING."""

    async def redis() -> None:
        # redis-py types commands as "bool or awaitable" to cover its sync client too.
        await cast(Awaitable[bool], client.ping())

    return redis


async def _run_check(check: Check, seconds: float) -> dict[str, str]:
    try:
        async with asyncio.timeout(seconds):
            await check()
    except TimeoutError:
        return {"status": "failed", "error": f"no answer within {seconds:g}s"}
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".strip().removesuffix(":")
        return {"status": "failed", "error": reason[:_ERROR_TEXT_LIMIT]}
    return {"status": "ok"}


async def run_checks(
    checks: Mapping[str, Check], check_timeout: float = DEFAULT_CHECK_TIMEOUT
) -> tuple[bool, dict[str, dict[str, str]]]:
    """Run every check concurrently, each within `check_timeout` seconds.

    Returns whether all passed and, per check, `{"status": "ok"}` or
    `{"status": "failed", "error": "..."}`.
    """
    names = list(checks)
    outcomes = await asyncio.gather(*(_run_check(checks[name], check_timeout) for name in names))
    results = dict(zip(names, outcomes, strict=True))
    return all(r["status"] == "ok" for r in outcomes), results


async def readiness_response(
    checks: Mapping[str, Check], check_timeout: float = DEFAULT_CHECK_TIMEOUT
) -> JSONResponse:
    """The /readyz answer: 200 `{"status": "ok", "checks": {...}}` or 503 naming what failed."""
    ready, results = await run_checks(checks, check_timeout)
    if not ready:
        failed = {name: r["error"] for name, r in results.items() if r["status"] != "ok"}
        _log.warning("not ready", failed_checks=failed)
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )


def build_health_app(
    checks: Mapping[str, Check], check_timeout: float = DEFAULT_CHECK_TIMEOUT
) -> Starlette:
    """The side-port app; separate from `HealthServer` so tests can call it in-process."""
    checks = dict(checks)

    async def healthz(_: Request) -> Response:
        # Alive means the event loop runs: it just served this request.
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def readyz(_: Request) -> Response:
        return await readiness_response(checks, check_timeout)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the role runtime owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family)


class HealthServer:
    """Serves `build_health_app` on `host:port` inside the running event loop.

    Port 0 binds a free port; read it back from `port` after `start()`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        checks: Mapping[str, Check] | None = None,
        *,
        check_timeout: float = DEFAULT_CHECK_TIMEOUT,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.app = build_health_app(checks or {}, check_timeout)
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the health server has not started")
        return self._port

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the health server is already running")
        # Binding here, not in uvicorn, makes a taken port fail loudly in start()
        # and lets port 0 be read back before anything asks for it.
        sock = _bind(self.host, self._requested_port)
        address: tuple[Any, ...] = sock.getsockname()
        self._port = int(address[1])
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            access_log=False,
            log_config=None,  # keep the process's logging (structlog) as configured
            timeout_graceful_shutdown=3,
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="health-server")
        self._server, self._task = server, task
        try:
            # uvicorn offers no "started" event; a short poll bounded by a deadline.
            async with asyncio.timeout(_STARTUP_TIMEOUT):
                while not server.started:
                    if task.done():
                        await task  # re-raises what stopped it
                        raise RuntimeError("the health server stopped while starting")
                    await asyncio.sleep(0.01)
        except BaseException:
            task.cancel()
            await asyncio.wait([task])
            sock.close()
            self._server = self._task = None
            raise
        _log.info("health server listening", host=self.host, port=self._port)

    async def stop(self) -> None:
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await task
        except Exception:
            # Stopping must not hide the error that brought the role down.
            _log.exception("health server failed")
        finally:
            self._server = self._task = None
