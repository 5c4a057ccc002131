"""The job queue end to end: real Redis, real PostgreSQL, an in-process worker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.config import Settings
from maily.kit.db import AsyncSession, transaction
from maily.kit.queue import JobContext, JobInfo, JobQueue, JobStatus, TaskRegistry, retry_delay
from tests.kit.queue.support import RunningWorker

StartWorker = Callable[..., Awaitable[RunningWorker]]
WaitForStatus = Callable[..., Awaitable[JobInfo]]
Effects = Callable[[str], Awaitable[list[tuple[int, str]]]]

registry = TaskRegistry()


async def record_effect(ctx: JobContext, schema: str, value: str) -> None:
    await ctx.session.execute(
        text(
            f'INSERT INTO "{schema}".effects (job_id, attempt, value) '
            "VALUES (:job_id, :attempt, :value)"
        ),
        {"job_id": ctx.job_id, "attempt": ctx.attempt, "value": value},
    )


async def push(ctx: JobContext, key: str, value: str) -> None:
    """Tell the test something, at once (outside the job's transaction)."""
    assert ctx.settings.redis.url
    redis = Redis.from_url(ctx.settings.redis.url)
    try:
        await redis.rpush(key, value)
    finally:
        await redis.aclose()


@registry.task("record")
async def record(ctx: JobContext, *, schema: str, value: str, contact_id: uuid.UUID) -> None:
    # contact_id crossed Redis as a string; the worker hands it back as a UUID.
    await record_effect(ctx, schema, f"{value}:{type(contact_id).__name__}")


@registry.task("flaky")
async def flaky(ctx: JobContext, *, schema: str, log: str, succeed_on: int) -> None:
    await push(ctx, log, f"start {ctx.attempt} {time.time()}")
    await record_effect(ctx, schema, f"attempt {ctx.attempt}")
    if ctx.attempt < succeed_on:
        await push(ctx, log, f"fail {ctx.attempt} {time.time()}")
        raise RuntimeError("not yet")


@registry.task("always_fails", retries=1)
async def always_fails(ctx: JobContext) -> None:
    raise RuntimeError("boom")


@registry.task("hangs", retries=0, timeout_seconds=1)
async def hangs(ctx: JobContext) -> None:
    await asyncio.Event().wait()


@registry.task("stamp")
async def stamp(ctx: JobContext, *, log: str) -> None:
    await push(ctx, log, str(time.time()))


@registry.task("parent")
async def parent(ctx: JobContext, *, schema: str, child_key: str) -> None:
    await record_effect(ctx, schema, "parent")
    ctx.session.jobs.enqueue(
        "record", key=child_key, schema=schema, value="child", contact_id=uuid.uuid4()
    )


@registry.task("waits_for_release")
async def waits_for_release(ctx: JobContext, *, schema: str, log: str, release: str) -> None:
    await push(ctx, log, "started")
    assert ctx.settings.redis.url
    redis = Redis.from_url(ctx.settings.redis.url)
    try:
        assert await redis.blpop([release], timeout=10)
    finally:
        await redis.aclose()
    await record_effect(ctx, schema, "finished")


async def test_job_runs_and_its_write_commits(
    job_queue: JobQueue,
    start_worker: StartWorker,
    wait_for_status: WaitForStatus,
    effects: Effects,
    effects_schema: str,
) -> None:
    await start_worker(registry)

    job_id = await job_queue.enqueue(
        "record", schema=effects_schema, value="hello", contact_id=uuid.uuid4()
    )

    info = await wait_for_status(job_id, JobStatus.complete)
    assert info.attempts == 1
    assert await effects(job_id) == [(1, "hello:UUID")]


async def test_failing_job_is_retried_with_backoff_then_succeeds(
    job_queue: JobQueue,
    start_worker: StartWorker,
    wait_for_status: WaitForStatus,
    effects: Effects,
    effects_schema: str,
    redis_client: Redis,
    queue_name: str,
) -> None:
    await start_worker(registry)
    log = f"{queue_name}:flaky"

    job_id = await job_queue.enqueue("flaky", schema=effects_schema, log=log, succeed_on=3)

    info = await wait_for_status(job_id, JobStatus.complete)
    assert info.attempts == 3
    # Each attempt was one transaction: the failed ones left nothing behind.
    assert await effects(job_id) == [(3, "attempt 3")]

    events = [entry.decode().split() for entry in await redis_client.lrange(log, 0, -1)]
    assert [(kind, int(n)) for kind, n, _ in events] == [
        ("start", 1), ("fail", 1), ("start", 2), ("fail", 2), ("start", 3),
    ]  # fmt: skip
    at = {(kind, int(n)): float(t) for kind, n, t in events}
    for attempt in (1, 2):
        # The worker's settings: base 0.2 s doubling per attempt, at least half of it.
        least = retry_delay(attempt, base_seconds=0.2, max_seconds=1.0, rand=lambda: 0.0)
        assert at[("start", attempt + 1)] - at[("fail", attempt)] >= least


async def test_job_that_keeps_failing_fails_after_its_retries(
    job_queue: JobQueue, start_worker: StartWorker, wait_for_status: WaitForStatus
) -> None:
    await start_worker(registry)

    job_id = await job_queue.enqueue("always_fails")

    info = await wait_for_status(job_id, JobStatus.failed)
    assert info.attempts == 2  # the first run and its one retry
    assert info.error is not None
    assert "boom" in info.error


async def test_job_past_its_timeout_is_cancelled(
    job_queue: JobQueue, start_worker: StartWorker, wait_for_status: WaitForStatus
) -> None:
    await start_worker(registry)

    job_id = await job_queue.enqueue("hangs")

    info = await wait_for_status(job_id, JobStatus.failed)
    assert info.error is not None
    assert "TimeoutError" in info.error


async def test_delayed_job_does_not_run_before_its_time(
    job_queue: JobQueue,
    start_worker: StartWorker,
    redis_client: Redis,
    queue_name: str,
) -> None:
    await start_worker(registry)
    log = f"{queue_name}:stamp"

    enqueued_at = time.time()
    job_id = await job_queue.enqueue("stamp", delay_seconds=1.5, log=log)

    info = await job_queue.job(job_id)
    assert info is not None
    assert info.status is JobStatus.queued
    assert await job_queue.depth() == 0  # delayed, not yet waiting for a worker
    popped = await redis_client.blpop([log], timeout=10)
    assert popped is not None, "the delayed job never ran"
    assert float(popped[1]) >= enqueued_at + 1.5


async def test_buffered_jobs_are_dropped_on_rollback_and_sent_after_commit(
    job_queue: JobQueue, sessionmaker: async_sessionmaker[AsyncSession], queue_name: str
) -> None:
    async def enqueue_then_fail() -> None:
        async with transaction(sessionmaker) as session:
            session.jobs.enqueue("stamp", key=f"{queue_name}-dropped", log="unused")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await enqueue_then_fail()
    assert await job_queue.job(f"{queue_name}-dropped") is None
    assert await job_queue.depth() == 0

    async with transaction(sessionmaker) as session:
        session.jobs.enqueue("stamp", key=f"{queue_name}-sent", log="unused")
        assert await job_queue.depth() == 0  # not before the commit

    assert await job_queue.depth() == 1
    info = await job_queue.job(f"{queue_name}-sent")
    assert info is not None
    assert (info.task, dict(info.kwargs)) == ("stamp", {"log": "unused"})


async def test_jobs_enqueued_by_a_job_go_out_after_its_commit(
    job_queue: JobQueue,
    start_worker: StartWorker,
    wait_for_status: WaitForStatus,
    effects: Effects,
    effects_schema: str,
    queue_name: str,
) -> None:
    await start_worker(registry)
    child_key = f"{queue_name}-child"

    parent_id = await job_queue.enqueue("parent", schema=effects_schema, child_key=child_key)

    await wait_for_status(child_key, JobStatus.complete)
    assert await effects(parent_id) == [(1, "parent")]
    assert await effects(child_key) == [(1, "child:UUID")]


async def test_same_key_is_not_queued_twice(job_queue: JobQueue, queue_name: str) -> None:
    key = f"{queue_name}-unique"

    assert await job_queue.enqueue("stamp", key=key, log="a") == key
    assert await job_queue.enqueue("stamp", key=key, log="b") == key

    assert await job_queue.depth() == 1
    info = await job_queue.job(key)
    assert info is not None
    assert dict(info.kwargs) == {"log": "a"}


async def test_stopping_worker_lets_running_job_finish(
    job_queue: JobQueue,
    start_worker: StartWorker,
    wait_for_status: WaitForStatus,
    effects: Effects,
    effects_schema: str,
    redis_client: Redis,
    queue_name: str,
) -> None:
    worker = await start_worker(registry)
    log, release = f"{queue_name}:log", f"{queue_name}:release"
    job_id = await job_queue.enqueue(
        "waits_for_release", schema=effects_schema, log=log, release=release
    )
    assert await redis_client.blpop([log], timeout=10) is not None

    worker.stop.set()
    done, _ = await asyncio.wait({worker.task}, timeout=0.5)
    assert not done, "the worker stopped without waiting for its running job"
    await redis_client.rpush(release, "go")
    await asyncio.wait_for(worker.task, timeout=10)

    info = await wait_for_status(job_id, JobStatus.complete)
    assert info.attempts == 1
    assert await effects(job_id) == [(1, "finished")]


async def test_long_job_keeps_beating_and_is_not_run_twice(
    job_queue: JobQueue,
    start_worker: StartWorker,
    wait_for_status: WaitForStatus,
    effects: Effects,
    effects_schema: str,
    redis_client: Redis,
    queue_name: str,
    worker_settings: Settings,
) -> None:
    await start_worker(registry)
    log, release = f"{queue_name}:log", f"{queue_name}:release"
    job_id = await job_queue.enqueue(
        "waits_for_release", schema=effects_schema, log=log, release=release
    )
    assert await redis_client.blpop([log], timeout=10) is not None

    # Past the heartbeat timeout, with sweeps running: a job without heartbeats
    # would be swept and started again by now.
    queue = worker_settings.queue
    window = queue.heartbeat_timeout_seconds + 2 * queue.sweep_interval_seconds
    assert await redis_client.blpop([log], timeout=window) is None, "the job was run twice"
    await redis_client.rpush(release, "go")

    info = await wait_for_status(job_id, JobStatus.complete)
    assert info.attempts == 1
    assert await effects(job_id) == [(1, "finished")]


async def test_job_taken_by_a_worker_that_died_at_once_runs(
    job_queue: JobQueue,
    start_worker: StartWorker,
    wait_for_status: WaitForStatus,
    effects: Effects,
    effects_schema: str,
    redis_client: Redis,
    queue_name: str,
) -> None:
    job_id = await job_queue.enqueue(
        "record", schema=effects_schema, value="orphan", contact_id=uuid.uuid4()
    )
    # A worker takes the job (saq's dequeue step) and dies before marking it active.
    taken = await redis_client.lmove(f"saq:{queue_name}:queued", f"saq:{queue_name}:active")
    assert taken is not None

    await start_worker(registry)

    info = await wait_for_status(job_id, JobStatus.complete)
    assert await effects(job_id) == [(info.attempts, "orphan:UUID")]


cron_registry = TaskRegistry()


@cron_registry.cron("tick", "* * * * * *")  # every second
async def tick(ctx: JobContext) -> None:
    await push(ctx, f"{ctx.settings.queue.name}:ticks", ctx.job_id)


async def test_cron_job_runs_on_its_schedule(
    job_queue: JobQueue, start_worker: StartWorker, redis_client: Redis, queue_name: str
) -> None:
    await start_worker(cron_registry)

    for _ in range(2):
        popped = await redis_client.blpop([f"{queue_name}:ticks"], timeout=5)
        assert popped is not None, "the cron job did not run"
        assert popped[1] == b"cron:tick"
