"""The job queue on Redis, through saq — the one module that imports saq.

Delivery is at least once: a job is acknowledged (removed from the active list)
only after its function returned and its transaction committed. A running job
writes a heartbeat; a sweep re-queues jobs whose heartbeat stopped (the worker
died). Tasks must therefore be idempotent. See docs/adr/0001-job-queue.md for
what this module changes in saq, and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import pydantic_core
from opentelemetry import trace
from saq import CronJob, Job, Status, Worker
from saq.queue.redis import RedisQueue
from saq.types import Context

from maily.kit.queue.backoff import retry_delay
from maily.kit.queue.tasks import JobContext, TaskDefinition, TaskRegistry
from maily.kit.tracing import current_trace_context, trace_parent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from maily.config import QueueSettings, Settings
    from maily.kit.db import AsyncSession

logger = logging.getLogger(__name__)

_SCHEDULE_EVERY_SECONDS = 1  # moves due delayed jobs to the queue; saq's lock wants an int
_ABORT_CHECK_EVERY_SECONDS = 1
_WORKER_INFO_EVERY_SECONDS = 10


class JobStatus(StrEnum):
    new = "new"
    queued = "queued"  # waiting, or delayed until its time
    active = "active"
    aborting = "aborting"
    aborted = "aborted"
    failed = "failed"
    complete = "complete"


@dataclass(frozen=True)
class JobInfo:
    id: str
    task: str
    status: JobStatus
    attempts: int
    kwargs: Mapping[str, Any]
    error: str | None


def _dump(job: Mapping[Any, Any]) -> bytes:
    # UUIDs, datetimes, enums and Pydantic models travel as their JSON forms;
    # `TaskDefinition.run` turns them back into the annotated types.
    return pydantic_core.to_json(job)


def _job_policy(
    queue: QueueSettings, definition: TaskDefinition | None, *, attempt: int
) -> dict[str, Any]:
    """saq job fields for a run numbered `attempt`."""
    retries = queue.default_retries
    timeout = queue.default_timeout_seconds
    if definition is not None:
        retries = definition.retries if definition.retries is not None else retries
        if definition.timeout_seconds is not None:
            timeout = definition.timeout_seconds
    return {
        "retries": retries + 1,  # saq counts runs, not re-runs
        "timeout": timeout,
        "heartbeat": queue.heartbeat_timeout_seconds,
        # saq's own backoff is "full jitter" (may retry at once); ours is computed
        # here, before the run, so that a sweep re-queueing a crashed run uses it too.
        "retry_delay": retry_delay(
            attempt,
            base_seconds=queue.retry_delay_seconds,
            max_seconds=queue.retry_max_delay_seconds,
        ),
        "retry_backoff": False,
    }


class JobQueue:
    """Sends jobs to the queue and runs a worker over it."""

    def __init__(self, queue: RedisQueue, settings: Settings) -> None:
        self._queue = queue
        self._settings = settings

    @classmethod
    def from_url(cls, redis_url: str, settings: Settings) -> JobQueue:
        return cls(_RedisQueue.from_url(redis_url, name=settings.queue.name, dump=_dump), settings)

    @property
    def name(self) -> str:
        return self._settings.queue.name

    async def connect(self) -> None:
        await self._queue.connect()
        await self._queue.version()  # a round trip: fail at start-up, not on first use

    async def disconnect(self) -> None:
        await self._queue.disconnect()

    async def enqueue(
        self,
        task: str,
        /,
        *,
        delay_seconds: float | None = None,
        key: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Queue `task(**kwargs)`, after `delay_seconds` if given, and return the job id.

        A `key` makes the job unique: while a job with that key is queued or
        running, enqueueing it again does nothing. Send from a request or a job
        through `session.jobs.enqueue(...)` instead, so it goes out after commit.
        """
        job_key = key or str(uuid.uuid4())
        # The job's span continues the trace of whoever enqueued it (a request, a job).
        trace_context = current_trace_context()
        # saq only pushes a job straight to the queue when `scheduled` is exactly 0.
        scheduled: float = time.time() + delay_seconds if delay_seconds and delay_seconds > 0 else 0
        await self._queue.enqueue(
            task,
            key=job_key,
            scheduled=scheduled,
            kwargs=kwargs,
            meta={"trace": trace_context} if trace_context else {},
            **_job_policy(self._settings.queue, None, attempt=1),
        )
        return job_key

    async def depth(self) -> int:
        """Jobs ready to run and waiting for a worker (delayed ones not counted)."""
        return await self._queue.count("queued")

    async def job(self, job_id: str) -> JobInfo | None:
        """The job's current state; finished jobs are kept for saq's ttl (10 min)."""
        job = await self._queue.job(job_id)
        if job is None:
            return None
        return JobInfo(
            id=job.key,
            task=job.function,
            status=JobStatus(job.status.value),
            attempts=job.attempts,
            kwargs=job.kwargs or {},
            error=job.error,
        )

    async def work(
        self,
        *,
        registry: TaskRegistry,
        sessionmaker: async_sessionmaker[AsyncSession],
        stop: asyncio.Event,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        """Run the registry's tasks and crons until `stop` is set, then let running
        jobs finish (up to `shutdown_grace_seconds`; the rest are re-queued). Each run
        is a span (`tracer_provider`, else the process-wide one)."""
        tracer = trace.get_tracer("maily.kit.queue", tracer_provider=tracer_provider)
        worker = _build_worker(self._queue, self._settings, registry, sessionmaker, tracer)
        running = asyncio.create_task(worker.start(), name=f"queue-worker:{self.name}")
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            await worker.stop()
            await running  # re-raises if the worker itself crashed


def _build_worker(
    queue: RedisQueue,
    settings: Settings,
    registry: TaskRegistry,
    sessionmaker: async_sessionmaker[AsyncSession],
    tracer: trace.Tracer,
) -> _Worker:
    # Deferred: maily.kit.db imports this package (for JobBuffer).
    from maily.kit.db.session import transaction

    queue_settings = settings.queue
    if queue_settings.sweep_interval_seconds < 1:
        raise ValueError("queue.sweep_interval_seconds must be at least 1")
    if queue_settings.dequeue_timeout_seconds <= 0:
        raise ValueError("queue.dequeue_timeout_seconds must be positive (0 blocks forever)")

    def job_function(definition: TaskDefinition) -> Callable[..., Awaitable[None]]:
        async def run(ctx: Context, **kwargs: Any) -> None:
            job = ctx["job"]
            heartbeat = asyncio.create_task(_heartbeat(job))
            try:
                with tracer.start_as_current_span(
                    f"job {definition.name}",
                    context=trace_parent((job.meta or {}).get("trace")),
                    kind=trace.SpanKind.CONSUMER,
                    attributes={"maily.job.id": job.key, "maily.job.attempt": job.attempts},
                ):
                    async with transaction(sessionmaker) as session:
                        context = JobContext(
                            session=session,
                            settings=settings,
                            job_id=job.key,
                            task=definition.name,
                            attempt=job.attempts,
                        )
                        # The result is dropped: jobs report through the database.
                        await definition.run(context, kwargs)
            finally:
                heartbeat.cancel()
                await asyncio.wait([heartbeat])

        # saq names cron jobs by __qualname__.
        run.__name__ = run.__qualname__ = definition.name
        return run

    async def apply_policy(ctx: Context) -> None:
        # The worker's registry, not the sender's, decides retries and timeout:
        # the API process need not import every domain's tasks.
        job = ctx["job"]
        definition = registry.get(job.function)
        await job.update(**_job_policy(queue_settings, definition, attempt=job.attempts))

    functions = {name: job_function(definition) for name, definition in registry.tasks.items()}
    cron_jobs = []
    for cron in registry.crons.values():
        policy = _job_policy(queue_settings, registry.get(cron.task), attempt=1)
        cron_jobs.append(
            CronJob(
                function=functions[cron.task],
                cron=cron.schedule,
                unique=True,
                timeout=policy["timeout"],
                heartbeat=policy["heartbeat"],
                retries=policy["retries"],
            )
        )
    return _Worker(
        queue,
        list(functions.items()),
        concurrency=queue_settings.concurrency,
        cron_jobs=cron_jobs,
        before_process=[apply_policy],
        timers={
            "schedule": _SCHEDULE_EVERY_SECONDS,
            "worker_info": _WORKER_INFO_EVERY_SECONDS,
            "sweep": queue_settings.sweep_interval_seconds,
            "abort": _ABORT_CHECK_EVERY_SECONDS,
        },
        dequeue_timeout=queue_settings.dequeue_timeout_seconds,
        shutdown_grace_period_s=queue_settings.shutdown_grace_seconds,
        sweep_abort_wait=queue_settings.sweep_abort_wait_seconds,
    )


async def _heartbeat(job: Job) -> None:
    """Touch the job a few times per heartbeat timeout while it runs: the proof,
    for the sweep, that its worker is alive."""
    if not job.heartbeat:
        return
    interval = job.heartbeat / 3
    while True:
        await asyncio.sleep(interval)
        try:
            await job.update()
        except Exception:
            # A Redis blip: the next beat may get through before the timeout.
            logger.warning("job %s: heartbeat failed", job.key, exc_info=True)


# Atomically: take the sweep lock (one sweeper per interval across all workers),
# read the active list with each job's record, and the jobs the previous sweep saw
# unclaimed. nil when another worker holds the lock.
_SWEEP_SNAPSHOT = """
if redis.call('SET', KEYS[1], 1, 'EX', ARGV[1], 'NX') then
    local jobs = {}
    for i, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
        jobs[i] = {id, redis.call('GET', id)}
    end
    return {jobs, redis.call('SMEMBERS', KEYS[3])}
end
return nil
"""


class _RedisQueue(RedisQueue):
    """saq's Redis queue with a sweep that leaves alone jobs a live worker has just
    taken. A worker moves a job to the active list, then marks it active: saq's
    sweep re-queues any job it catches between the two, so the job runs twice
    (saq issue #277). Here such a job is swept only if the previous sweep — at least
    a sweep interval earlier — already saw the very same record unclaimed: its
    worker died between the two steps."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unclaimed = self.namespace("unclaimed")
        self._snapshot_script = self.redis.register_script(_SWEEP_SNAPSHOT)

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        snapshot = await self._snapshot_script(
            keys=[self._sweep, self._active, self._unclaimed], args=[lock]
        )
        if snapshot is None:
            return []
        active, previously_unclaimed = snapshot
        seen_unclaimed = {member.decode() for member in previously_unclaimed}
        unclaimed: set[str] = set()
        swept: list[str] = []
        for raw_id, payload in active:
            job_id = raw_id.decode()
            job = self.deserialize(payload)
            if job is None:  # its record expired; forget the id, as saq does
                swept.append(job_id)
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.lrem(self._active, 0, job_id)
                    pipe.zrem(self._incomplete, job_id)
                    await pipe.execute()
                continue
            if job.status in (Status.NEW, Status.QUEUED):
                # The record, not just the id: the same job may be taken again
                # (a retry) and be caught between the two steps once more.
                marker = f"{job_id}:{hashlib.blake2b(payload, digest_size=8).hexdigest()}"
                if marker not in seen_unclaimed:
                    unclaimed.add(marker)
                    continue
            if job.status == Status.ACTIVE and not _abandoned(job):
                continue
            swept.append(job_id)
            await self._sweep_job(job, abort)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._unclaimed)
            if unclaimed:
                pipe.sadd(self._unclaimed, *unclaimed)
                pipe.expire(self._unclaimed, 3 * lock)
            await pipe.execute()
        return swept

    async def _sweep_job(self, job: Job, abort_wait: float) -> None:
        # As saq does: ask a (possibly live) worker to cancel the job, give it
        # `abort_wait` seconds to confirm, then run the job again or give up on it.
        logger.info("sweeping job %s (%s)", job.key, job.status.value)
        error = self.swept_error_message
        await self.abort(job, error=error)
        try:
            await job.refresh(abort_wait)
        except TimeoutError:
            logger.info("job %s: no worker confirmed the abort; its worker is gone", job.key)
        if job.retryable:
            await self.retry(job, error=error)
        else:
            await self.finish(job, Status.ABORTED, error=error)


def _abandoned(job: Job) -> bool:
    """Its worker stopped beating: it died, or its event loop is wedged. (saq's
    `job.stuck` also counts jobs past their timeout, but a live worker cancels
    those itself; sweeping them too made both finish the same run.)"""
    if not job.heartbeat:
        return job.stuck
    return (time.time() * 1000 - job.touched) / 1000 > job.heartbeat


class _Worker(Worker[Context]):
    """saq's worker, adjusted to run as one role among several in a process."""

    def __init__(self, *args: Any, sweep_abort_wait: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The role runner owns SIGINT/SIGTERM; saq would install (and on exit
        # remove) loop-wide handlers of its own.
        self.SIGNALS = []
        self._sweep_abort_wait = sweep_abort_wait

    async def upkeep(self) -> list[asyncio.Task[None]]:
        # saq's loops sleep unconditionally between rounds, so stopping would wait
        # out the longest timer (the sweep); these wake as soon as the worker stops.
        timers = self.timers
        rounds: list[tuple[float, Callable[[], Awaitable[object]]]] = [
            (timers["abort"], lambda: self.abort(timers["abort"])),
            (timers["schedule"], lambda: self.schedule(timers["schedule"])),
            (
                timers["sweep"],
                lambda: self.queue.sweep(timers["sweep"], abort=self._sweep_abort_wait),
            ),
            (timers["worker_info"], lambda: self.worker_info(timers["worker_info"] + 1)),
        ]
        return [asyncio.create_task(self._every(seconds, step)) for seconds, step in rounds]

    async def _every(self, seconds: float, step: Callable[[], Awaitable[object]]) -> None:
        while not self.event.is_set():
            try:
                await step()
            except Exception:
                logger.exception("queue upkeep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), seconds)


_current: JobQueue | None = None


def set_current_queue(queue: JobQueue | None) -> None:
    """Make `queue` the one that buffered jobs (`session.jobs`) are flushed to."""
    global _current
    _current = queue


def current_queue() -> JobQueue:
    if _current is None:
        raise RuntimeError("no job queue is connected in this process (set_current_queue)")
    return _current
