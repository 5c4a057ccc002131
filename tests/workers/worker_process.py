"""A `maily worker` process for the crash-recovery test: `python -m
tests.workers.worker_process`, settings from MAILY_* environment variables."""

from __future__ import annotations

import asyncio
import logging
import signal

from redis.asyncio import Redis
from sqlalchemy import text

from maily.config import Settings
from maily.kit.queue import JobContext, TaskRegistry
from maily.workers import run_worker

registry = TaskRegistry()


@registry.task("crash_test.block_first_run")
async def block_first_run(ctx: JobContext, *, started: str, schema: str) -> None:
    """Report each run; hang in the first (until the test kills the process), and
    record completion in the database in the next."""
    assert ctx.settings.redis.url
    redis = Redis.from_url(ctx.settings.redis.url)
    try:
        await redis.rpush(started, ctx.attempt)
    finally:
        await redis.aclose()
    if ctx.attempt == 1:
        await asyncio.Event().wait()
    await ctx.session.execute(
        text(f'INSERT INTO "{schema}".completed (job_id, attempt) VALUES (:job_id, :attempt)'),
        {"job_id": ctx.job_id, "attempt": ctx.attempt},
    )


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run_worker(Settings(_env_file=None), stop, registry=registry)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(main())
