"""Tracing of the API's requests (the tracing set-up itself is `maily.kit.tracing`)."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from maily.kit.tracing import installed_provider

__all__ = ["instrument_app"]

# Probes and scrapes arrive every few seconds and say nothing about user requests.
UNTRACED_URLS: Final = r"/healthz$,/readyz$,/metrics$"


def instrument_app(app: FastAPI, tracer_provider: TracerProvider | None = None) -> None:
    """Trace every request of a FastAPI app (except probes and scrapes).

    Uses `tracer_provider`, else the one `configure_tracing` installed; does nothing
    when tracing is off. FastAPI's built-in telemetry sees this instrumentation and
    stands aside, so requests are not traced twice. Add `RequestIdMiddleware` with
    `app.add_middleware` so its access line runs inside the request's span.
    """
    provider = tracer_provider or installed_provider()
    if provider is None:
        return
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=UNTRACED_URLS,
        # Spans per ASGI message (`http send`) add volume, not insight.
        exclude_spans=["receive", "send"],
    )
