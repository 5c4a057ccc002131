"""The `maily worker` role: runs background jobs until told to stop."""

from __future__ import annotations

import asyncio
import logging

from maily.config import Settings
from maily.kit.db import create_engine, create_sessionmaker
from maily.kit.queue import JobQueue, TaskRegistry, current_queue, set_current_queue
from maily.workers.registry import load_domain_tasks

logger = logging.getLogger(__name__)


async def run_worker(
    settings: Settings, stop: asyncio.Event, *, registry: TaskRegistry | None = None
) -> None:
    """Connect PostgreSQL and Redis, run jobs until `stop` is set, then shut down:
    running jobs get `queue.shutdown_grace_seconds` to finish, the rest are
    re-queued. `registry` defaults to every domain's tasks (tests pass their own)."""
    if not settings.database.url:
        raise ValueError("the worker needs a database: set MAILY_DATABASE_URL")
    if not settings.redis.url:
        raise ValueError("the worker needs Redis: set MAILY_REDIS_URL")
    if registry is None:
        registry = load_domain_tasks()

    engine = create_engine(
        settings.database.url,
        # A job holds one connection for its whole transaction.
        pool_size=max(settings.database.pool_size, settings.queue.concurrency),
        max_overflow=settings.database.max_overflow,
        echo=settings.database.echo,
    )
    queue = JobQueue.from_url(settings.redis.url, settings)
    previous = _current_queue_or_none()
    try:
        await queue.connect()
        # Jobs that jobs enqueue (session.jobs) are flushed to this queue.
        set_current_queue(queue)
        logger.info(
            "worker started on queue %r: %d tasks, %d crons",
            queue.name,
            len(registry.tasks),
            len(registry.crons),
        )
        await queue.work(registry=registry, sessionmaker=create_sessionmaker(engine), stop=stop)
    finally:
        # Under `maily up` another role may share this process's current queue.
        if _current_queue_or_none() is queue:
            set_current_queue(previous)
        await queue.disconnect()
        await engine.dispose()
        logger.info("worker stopped")


def _current_queue_or_none() -> JobQueue | None:
    try:
        return current_queue()
    except RuntimeError:
        return None
