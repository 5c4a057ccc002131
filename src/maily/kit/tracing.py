"""Tracing: one OpenTelemetry tracer provider per process; FastAPI, PostgreSQL and Redis spans,
and the stored trace context that carries a campaign send across processes."""

from __future__ import annotations

import sys

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_NAMESPACE, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from maily.config import Settings

# The provider installed as the process-wide one. OpenTelemetry lets the global be
# set once; every later `configure_tracing` without its own exporter reuses it.
_provider: TracerProvider | None = None


def configure_tracing(
    settings: Settings,
    service_name: str,
    exporter: SpanExporter | None = None,
    *,
    set_global: bool = True,
) -> TracerProvider | None:
    """Set up tracing for a role; returns its provider, or None when tracing is off.

    `service_name` is the role (`api`, `sender`); spans carry `service.name`
    `maily-<role>` in the `maily` namespace. Spans go to `exporter` when given
    (tests pass an `InMemorySpanExporter`), else over OTLP/HTTP to
    `observability.otlp_endpoint`, else to stderr, away from the log lines on stdout.
    The first provider made becomes the process-wide one unless `set_global` is
    false (tests keep their pipeline private and pass it to `instrument_app`).
    """
    global _provider
    observability = settings.observability
    if not observability.tracing_enabled:
        return None
    if exporter is None and set_global and _provider is not None:
        return _provider  # the roles of `maily up` share one pipeline

    namespace = observability.service_name
    provider = TracerProvider(
        resource=Resource.create(
            {SERVICE_NAME: f"{namespace}-{service_name}", SERVICE_NAMESPACE: namespace}
        ),
        sampler=ParentBased(TraceIdRatioBased(observability.trace_sample_ratio)),
    )
    if exporter is not None:
        # Synchronous export: a test sees the span as soon as the request returns.
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif observability.otlp_endpoint:
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=observability.otlp_endpoint))
        )
    else:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))

    if set_global and _provider is None:
        trace.set_tracer_provider(provider)
        _provider = provider
    return provider


def installed_provider() -> TracerProvider | None:
    """The process-wide provider `configure_tracing` installed, if any."""
    return _provider


def instrument_database(tracer_provider: TracerProvider | None = None) -> None:
    """Trace every PostgreSQL query of this process, at the asyncpg driver that
    SQLAlchemy uses (the SQLAlchemy instrumentation does not support 2.1).
    Parameters are not recorded: they hold addresses and personal data."""
    provider = tracer_provider or _provider
    # The instrumentation ships without annotations on its constructor.
    instrumentor = AsyncPGInstrumentor(capture_parameters=False)  # type: ignore[no-untyped-call]
    if provider is None or instrumentor.is_instrumented_by_opentelemetry:
        return
    instrumentor.instrument(tracer_provider=provider)


def instrument_redis(tracer_provider: TracerProvider | None = None) -> None:
    """Trace every Redis command of every client (sync and asyncio) in this process."""
    provider = tracer_provider or _provider
    instrumentor = RedisInstrumentor()
    if provider is None or instrumentor.is_instrumented_by_opentelemetry:
        return
    instrumentor.instrument(tracer_provider=provider)


def current_trace_context() -> dict[str, str] | None:
    """The W3C trace context (`traceparent`, `tracestate`) of the current span, to be
    stored with work that other processes carry on later; None outside a span."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def trace_parent(carrier: dict[str, str] | None) -> Context | None:
    """The parent context a stored `current_trace_context()` names (None: start a new trace)."""
    if not carrier:
        return None
    return propagate.extract(carrier)


def flush_tracing(provider: TracerProvider | None, timeout_millis: int = 5000) -> None:
    """Export the spans still queued; a role calls this as it stops."""
    if provider is not None:
        provider.force_flush(timeout_millis)
