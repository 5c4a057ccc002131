"""`maily tracking`: the public tracking endpoints served alone by granian (with uvloop)
over its RSGI interface, and the same endpoints inside the API app (ASGI), so `maily up`
answers them on its one port."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.config import Settings
from maily.kit.db import AsyncSession, create_engine, create_sessionmaker
from maily.kit.logging import get_logger
from maily.tracking.app import TrackingApp, TrackingContext
from maily.tracking.batcher import EventBatcher
from maily.tracking.http import ASGIApp, Receive, Scope, Send, TrustedProxies
from maily.tracking.links import LinkTables
from maily.tracking.machines import MachineRules
from maily.tracking.tokens import TokenSigner

__all__ = ["TrackingMiddleware", "build_context", "run_tracking", "tracking_redis"]

_log = get_logger("maily.tracking")


def tracking_redis(settings: Settings) -> Redis:
    """A Redis client that gives up quickly: a request waits at most this long for
    its event before it answers without it (or with 503)."""
    assert settings.redis.url
    timeout = settings.tracking.redis_timeout_seconds
    return Redis.from_url(
        settings.redis.url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        max_connections=settings.tracking.redis_max_connections,
    )


def build_context(
    settings: Settings,
    redis: Any,
    sessionmaker: async_sessionmaker[AsyncSession] | None,
) -> TrackingContext:
    tracking = settings.tracking
    return TrackingContext(
        settings=settings,
        signer=TokenSigner.from_settings(settings),
        batcher=EventBatcher(
            redis,
            settings.analytics.stream_key,
            max_events=tracking.batch_max_events,
            max_in_flight=tracking.batch_max_in_flight,
            max_unacknowledged=tracking.max_unacknowledged_events,
            retry_seconds=tracking.retry_seconds,
        ),
        links=LinkTables(
            redis,
            sessionmaker,
            prefix=tracking.link_table_key_prefix,
            capacity=tracking.link_cache_size,
        ),
        machines=MachineRules.default(tracking.machine_rules_file),
        sessionmaker=sessionmaker,
        trusted_proxies=TrustedProxies(tracking.trusted_proxies),
    )


class TrackingMiddleware:
    """The tracking paths inside the API app; everything else goes on to the API.
    The context is built on the first tracking request, from the API's own state."""

    def __init__(self, app: ASGIApp, owner: Any, settings: Settings) -> None:
        def context() -> TrackingContext:
            state = owner.state.maily
            built = build_context(state.settings, state.redis, state.sessionmaker)
            # The API's shutdown drains its batcher (close_tracking).
            owner.state.tracking_context = built
            return built

        self.tracking = TrackingApp(
            context, fallback=app, bare_endpoint=settings.tracking.bare_endpoint
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.tracking(scope, receive, send)


async def close_tracking(owner: Any) -> None:
    """Send the events the API's tracking paths took and close the batcher's
    connections (the API's lifespan, at shutdown)."""
    context: TrackingContext | None = getattr(owner.state, "tracking_context", None)
    if context is not None:
        await context.batcher.aclose()


async def run_tracking(settings: Settings, stop: asyncio.Event) -> None:
    """Serve the tracking endpoints on `tracking.host:tracking.port` until `stop`."""
    from granian.constants import HTTPModes, Interfaces
    from granian.server.embed import Server

    assert settings.database.url
    engine = create_engine(settings.database.url, pool_size=4, max_overflow=4)
    redis = tracking_redis(settings)
    context = build_context(settings, redis, create_sessionmaker(engine))
    app = TrackingApp(context, bare_endpoint=settings.tracking.bare_endpoint)
    server = Server(
        app,
        address=settings.tracking.host,
        port=settings.tracking.port,
        interface=Interfaces.RSGI,
        http=HTTPModes.http1,
        websockets=False,
        log_access=False,
        backlog=2048,
    )
    # Everything loaded so far (settings, models, libraries: hundreds of thousands of
    # objects) lives as long as the process; a full collection walking it would stall
    # every request in flight for tens of milliseconds. Requests' own garbage is young.
    gc.collect()
    gc.freeze()
    serving = asyncio.create_task(server.serve(), name="tracking-http")
    stopping = asyncio.create_task(stop.wait())
    _log.info(
        "tracking endpoints listening",
        url=f"http://{settings.tracking.host}:{settings.tracking.port}",
    )
    try:
        await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not serving.done():
            server.signal_handler_interrupt()  # type: ignore[no-untyped-call]
            await serving
        await context.batcher.aclose()
        await redis.aclose()
        await engine.dispose()
    if serving.exception() is not None:
        raise serving.exception()  # type: ignore[misc]
