"""Serving the API with uvicorn, alone (`maily api`) or beside other roles (`maily up`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn

from maily.api.app import create_app
from maily.api.state import AppState
from maily.config import Settings
from maily.kit.logging import configure_logging
from maily.kit.tracing import configure_tracing


class EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers, for a process that owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def uvicorn_config(settings: Settings, state: AppState | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, state=state),
        host=settings.api.host,
        port=settings.api.port,
        log_config=None,  # structlog owns logging
        access_log=False,  # RequestIdMiddleware logs one line per request
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


def serve_api(settings: Settings) -> None:
    configure_logging(settings)
    configure_tracing(settings, "api")
    uvicorn.Server(uvicorn_config(settings)).run()
