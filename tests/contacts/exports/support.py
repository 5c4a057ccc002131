"""Running background jobs inside a test: a queue that records, and a runner for what it holds."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx

import maily.contacts.tasks  # noqa: F401 - registers the contacts domain's tasks
from maily.api.deps import get_session
from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.queue import JobContext, current_queue, registry, set_current_queue


class RecordingQueue:
    """Stands in for the Redis queue: keeps what was enqueued, as it would cross the
    wire (JSON), until a test runs it."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, dict[str, Any]]] = []

    async def enqueue(
        self,
        task: str,
        /,
        *,
        delay_seconds: float | None = None,
        key: str | None = None,
        **kwargs: Any,
    ) -> str:
        self.jobs.append((task, json.loads(json.dumps(kwargs))))
        return key or str(uuid.uuid4())

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        jobs, self.jobs = self.jobs, []
        return jobs


@asynccontextmanager
async def recording_queue() -> AsyncIterator[RecordingQueue]:
    """Make jobs flushed after a commit land in a `RecordingQueue` for the duration."""
    try:
        previous = current_queue()
    except RuntimeError:
        previous = None
    queue = RecordingQueue()
    set_current_queue(queue)  # type: ignore[arg-type]
    try:
        yield queue
    finally:
        set_current_queue(previous)


async def run_jobs(
    session: AsyncSession, settings: Settings, queue: RecordingQueue, *, attempt: int = 1
) -> list[str]:
    """Run the recorded jobs in the test's transaction, as a worker would run them."""
    ran: list[str] = []
    for name, kwargs in queue.take():
        definition = registry.get(name)
        assert definition is not None, f"no task {name!r} is registered"
        context = JobContext(
            session=session, settings=settings, job_id=str(uuid.uuid4()), task=name, attempt=attempt
        )
        await definition.run(context, kwargs)
        ran.append(name)
    return ran


async def run_jobs_through_app(client: httpx.AsyncClient, queue: RecordingQueue) -> list[str]:
    """`run_jobs` for code that holds only the test client (tenancy seeders): the
    session comes from the app's unit of work, as a request's would."""
    app: Any = client._transport.app  # type: ignore[attr-defined]
    unit = app.dependency_overrides[get_session]()
    session = await anext(unit)
    ran = await run_jobs(session, app.state.maily.settings, queue)
    with suppress(StopAsyncIteration):
        await anext(unit)  # commits, like the end of a request
    return ran
