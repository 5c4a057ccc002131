"""Fixtures for the job queue: a unique queue per test on the real Redis, a
throw-away schema in the real PostgreSQL, and an in-process worker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from maily.config import Settings
from maily.kit.db import AsyncSession, create_engine, create_sessionmaker
from maily.kit.queue import JobInfo, JobQueue, JobStatus, TaskRegistry, set_current_queue
from maily.workers import run_worker
from tests.conftest import Stores
from tests.kit.queue.support import RunningWorker, make_queue_settings, queue_redis_url_for

Eventually = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="session")
def queue_redis_url(stores: Stores) -> str:
    return queue_redis_url_for(stores)


@pytest.fixture
def queue_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def worker_settings(stores: Stores, queue_redis_url: str, queue_name: str) -> Settings:
    return make_queue_settings(stores, queue_redis_url, queue_name)


@pytest.fixture
async def redis_client(queue_redis_url: str, queue_name: str) -> AsyncIterator[Redis]:
    """A plain client; removes this test's queue keys (and `<queue>:*` lists) after."""
    client = Redis.from_url(queue_redis_url)
    yield client
    for pattern in (f"saq:{queue_name}:*", f"saq:job:{queue_name}:*", f"{queue_name}:*"):
        keys = [key async for key in client.scan_iter(match=pattern)]
        if keys:
            await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def job_queue(worker_settings: Settings, redis_client: Redis) -> AsyncIterator[JobQueue]:
    """The test's queue, connected and current (buffered jobs flush to it)."""
    assert worker_settings.redis.url
    queue = JobQueue.from_url(worker_settings.redis.url, worker_settings)
    await queue.connect()
    set_current_queue(queue)
    yield queue
    set_current_queue(None)
    await queue.disconnect()


@pytest.fixture(scope="session")
async def admin_engine(stores: Stores) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(stores.admin_database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def effects_schema(admin_engine: AsyncEngine) -> AsyncIterator[str]:
    """A schema of its own in the admin database, so these tests need no app models:
    `effects` rows are what test jobs leave behind when their transaction commits."""
    schema = f"queue_test_{uuid.uuid4().hex[:12]}"
    async with admin_engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.execute(
            text(
                f'CREATE TABLE "{schema}".effects '
                "(job_id text NOT NULL, attempt int NOT NULL, value text NOT NULL)"
            )
        )
    yield schema
    async with admin_engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def sessionmaker(admin_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(admin_engine)


@pytest.fixture
async def effects(
    admin_engine: AsyncEngine, effects_schema: str
) -> Callable[[str], Awaitable[list[tuple[int, str]]]]:
    """`await effects(job_id)`: the committed (attempt, value) rows of a job."""

    async def read(job_id: str) -> list[tuple[int, str]]:
        async with admin_engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f'SELECT attempt, value FROM "{effects_schema}".effects '
                    "WHERE job_id = :job_id ORDER BY attempt"
                ),
                {"job_id": job_id},
            )
            return [(row.attempt, row.value) for row in rows]

    return read


@pytest.fixture
def eventually() -> Eventually:
    """`await eventually(check, timeout=...)`: poll an async check until it returns a
    truthy value (returned) or the deadline passes (the test fails)."""

    async def poll(
        check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = await check()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"{what} not reached within {timeout}s (last: {result!r})")
            await asyncio.sleep(0.05)

    return poll


@pytest.fixture
def wait_for_status(
    job_queue: JobQueue, eventually: Eventually
) -> Callable[..., Awaitable[JobInfo]]:
    async def wait(job_id: str, *statuses: JobStatus, timeout: float = 10.0) -> JobInfo:
        async def reached() -> JobInfo | None:
            info = await job_queue.job(job_id)
            return info if info is not None and info.status in statuses else None

        info: JobInfo = await eventually(reached, timeout=timeout, what=f"job in {statuses}")
        return info

    return wait


@pytest.fixture
async def start_worker(
    worker_settings: Settings,
    redis_client: Redis,  # so the queue's keys are removed after the worker stopped
) -> AsyncIterator[Callable[..., Awaitable[RunningWorker]]]:
    """`worker = await start_worker(registry)`: `run_worker` in this event loop,
    stopped when the test ends if the test did not stop it."""
    running: list[RunningWorker] = []

    async def start(registry: TaskRegistry, settings: Settings | None = None) -> RunningWorker:
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(settings or worker_settings, stop, registry=registry))
        running.append(RunningWorker(stop, task))
        return running[-1]

    yield start

    for worker in running:
        worker.stop.set()
        await asyncio.wait_for(worker.task, timeout=15)
