"""A job's run is a span in the trace of whoever enqueued it, through Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.queue import JobContext, JobQueue, TaskRegistry
from maily.kit.tracing import configure_tracing

registry = TaskRegistry()
# Set by the job when it runs, keyed by a token the test passes.
ran: dict[str, asyncio.Event] = {}


@registry.task("traced")
async def traced(ctx: JobContext, token: str) -> None:
    ran[token].set()


class Exporter(InMemorySpanExporter):
    """Keeps spans in memory and signals each export (spans are exported as they end,
    on the event loop's thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.exported = asyncio.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        self.exported.set()
        return result


@pytest.fixture
def exporter() -> Exporter:
    return Exporter()


@pytest.fixture
def provider(exporter: Exporter) -> TracerProvider:
    settings = Settings(_env_file=None, observability={"tracing_enabled": True})
    # Private to the test: other tests run untraced.
    provider = configure_tracing(settings, "worker", exporter, set_global=False)
    assert provider is not None
    return provider


@pytest.fixture
async def worker(
    job_queue: JobQueue,
    sessionmaker: async_sessionmaker[AsyncSession],
    provider: TracerProvider,
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    running = asyncio.create_task(
        job_queue.work(
            registry=registry, sessionmaker=sessionmaker, stop=stop, tracer_provider=provider
        )
    )
    yield
    stop.set()
    await running


async def run_job(job_queue: JobQueue) -> str:
    token = uuid.uuid4().hex
    ran[token] = asyncio.Event()
    job_id = await job_queue.enqueue("traced", token=token)
    async with asyncio.timeout(10):
        await ran[token].wait()
    return job_id


async def wait_for_span(exporter: Exporter, job_id: str) -> ReadableSpan:
    """The job's span, which ends just after its task returns."""
    async with asyncio.timeout(10):
        while True:
            found = [
                s
                for s in exporter.get_finished_spans()
                if (s.attributes or {}).get("maily.job.id") == job_id
            ]
            if found:
                (span,) = found
                return span
            exporter.exported.clear()
            await exporter.exported.wait()


async def test_a_job_continues_the_trace_it_was_enqueued_in(
    job_queue: JobQueue, worker: None, provider: TracerProvider, exporter: Exporter
) -> None:
    with provider.get_tracer("test").start_as_current_span("request") as request:
        job_id = await run_job(job_queue)

    span = await wait_for_span(exporter, job_id)
    assert span.name == "job traced"
    assert span.kind is SpanKind.CONSUMER
    assert span.context is not None
    assert span.context.trace_id == request.get_span_context().trace_id
    assert span.parent is not None
    assert span.parent.span_id == request.get_span_context().span_id


async def test_a_job_enqueued_outside_a_trace_starts_its_own(
    job_queue: JobQueue, worker: None, exporter: Exporter
) -> None:
    job_id = await run_job(job_queue)

    span = await wait_for_span(exporter, job_id)
    assert span.parent is None
