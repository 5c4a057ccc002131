"""The FastAPI application: routers, error shape, middleware, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from maily import __version__
from maily.ai.endpoints import router as ai_router
from maily.ai.insights.endpoints import router as insights_router
from maily.ai.providers.endpoints import router as ai_providers_router
from maily.api.errors import install_error_handlers
from maily.api.state import AppState
from maily.api.tracing import instrument_app
from maily.api.web import mount_web
from maily.audit.endpoints import router as audit_router
from maily.auth.endpoints import router as auth_router
from maily.campaigns.endpoints import router as campaigns_router
from maily.config import Settings
from maily.contacts.endpoints import router as contacts_router
from maily.contacts.exports.endpoints import router as exports_router
from maily.contacts.forms.endpoints import router as forms_router
from maily.contacts.imports.endpoints import router as imports_router
from maily.contacts.privacy.endpoints import router as privacy_router
from maily.delivery.domains.endpoints import router as sending_domains_router
from maily.delivery.outbox.endpoints import router as outbox_router
from maily.delivery.transports.endpoints import router as transport_router
from maily.delivery.webhooks.endpoints import router as bounce_webhooks_router
from maily.kit.crypto import SecretBox, configure_secret_box
from maily.kit.db import create_engine, create_sessionmaker
from maily.kit.health import database_check, readiness_response, redis_check
from maily.kit.metrics import HTTPMetricsMiddleware, metrics_endpoint
from maily.kit.queue import JobQueue, set_current_queue
from maily.kit.ratelimit import RateLimiter
from maily.kit.requestid import RequestIdMiddleware
from maily.kit.storage import storage_from_settings
from maily.realtime.endpoints import router as realtime_router
from maily.reports.endpoints import router as reports_router
from maily.segments.endpoints import router as segments_router
from maily.templates.endpoints import router as templates_router
from maily.tracking.server import TrackingMiddleware, close_tracking
from maily.webhooks.endpoints import router as webhooks_router

ROUTERS = [
    auth_router,
    contacts_router,
    imports_router,
    exports_router,
    privacy_router,
    forms_router,
    segments_router,
    campaigns_router,
    templates_router,
    sending_domains_router,
    audit_router,
    outbox_router,
    transport_router,
    webhooks_router,
    realtime_router,
    reports_router,
    bounce_webhooks_router,
    ai_providers_router,
    ai_router,
    insights_router,
]


def build_state(settings: Settings) -> AppState:
    if not settings.database.url or not settings.redis.url:
        raise RuntimeError("the API needs MAILY_DATABASE_URL and MAILY_REDIS_URL")
    engine = create_engine(
        settings.database.url,
        pool_size=settings.database.pool_size,
        max_overflow=settings.database.max_overflow,
        echo=settings.database.echo,
    )
    return state_from(settings, engine, Redis.from_url(settings.redis.url))


def state_from(settings: Settings, engine: AsyncEngine, redis: Redis) -> AppState:
    # Encrypted columns (DKIM keys, transport secrets) are read and written with
    # the settings' keys wherever an app state exists, tests included.
    configure_secret_box(SecretBox.from_settings(settings))
    return AppState(
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        redis=redis,
        rate_limiter=RateLimiter(redis, prefix="maily:rl"),
        storage=storage_from_settings(settings),
    )


async def _stop_first_use_parts(app: FastAPI) -> None:
    """Stop what requests made on first use and the caller's state does not own."""
    # Made on the first live WebSocket (maily.realtime.endpoints.live_hub).
    hub = getattr(app.state, "live_hub", None)
    if hub is not None:
        await hub.stop()
    # Made on the first tracking request: the events it took go out first.
    await close_tracking(app)


def create_app(settings: Settings, state: AppState | None = None) -> FastAPI:
    """Build the app. Pass `state` to reuse connections (tests, `maily up`); the app
    then leaves closing them to the caller."""
    owns_state = state is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not owns_state:
            try:
                yield
            finally:
                await _stop_first_use_parts(app)
            return
        current = app.state.maily = build_state(settings)
        assert settings.redis.url
        # Jobs enqueued during requests (session.jobs) go out through this queue.
        queue = JobQueue.from_url(settings.redis.url, settings)
        await queue.connect()
        set_current_queue(queue)
        try:
            yield
        finally:
            await _stop_first_use_parts(app)
            await queue.disconnect()
            # Built on first use by a test send or a start (maily.delivery.parts).
            parts = getattr(app.state, "delivery_parts", None)
            if parts is not None:
                await parts.transport.aclose()
            # Built on first use by a bounce webhook (maily.delivery.webhooks).
            receiver = getattr(app.state, "bounce_webhooks", None)
            if receiver is not None:
                await receiver.aclose()
            await current.storage.aclose()
            await current.redis.aclose()
            await current.engine.dispose()

    app = FastAPI(
        title="Maily API",
        version=__version__,
        description="Self-hosted, AI-assisted email marketing. All endpoints live under /api/v1.",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    if state is not None:
        app.state.maily = state
    install_error_handlers(app)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        current: AppState = request.app.state.maily
        return await readiness_response(
            {"database": database_check(current.engine), "redis": redis_check(current.redis)},
            settings.observability.readiness_timeout_seconds,
        )

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    # The public tracking paths (/t/, /u/, /p/, /v/), raw ASGI in front of the routes.
    app.add_middleware(TrackingMiddleware, owner=app, settings=settings)
    # Outermost last: the request id exists before metrics and handlers run.
    app.add_middleware(HTTPMetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    if settings.observability.tracing_enabled:
        instrument_app(app)
    # Last: the web app at `/` answers only what no route above did.
    mount_web(app, settings)

    return app
