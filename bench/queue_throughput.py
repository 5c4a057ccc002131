"""Jobs through the Redis queue: enqueue rate, and end-to-end completion rate with one
worker running each job in its own (empty) database transaction.

Prints one JSON line of figures. Needs MAILY_DATABASE_URL and MAILY_REDIS_URL."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

from redis.asyncio import Redis

from maily.config import Settings
from maily.kit.queue import JobContext, JobQueue, TaskRegistry
from maily.workers import run_worker


async def measure(jobs: int, concurrency: int) -> dict[str, object]:
    settings = Settings()
    if not settings.database.url or not settings.redis.url:
        raise SystemExit("set MAILY_DATABASE_URL and MAILY_REDIS_URL")
    settings.queue.name = f"bench-{uuid.uuid4().hex[:8]}"
    settings.queue.concurrency = concurrency
    done_key = f"{settings.queue.name}:done"

    registry = TaskRegistry()
    redis = Redis.from_url(settings.redis.url)

    @registry.task("bench.noop")
    async def noop(ctx: JobContext, n: int) -> None:
        await redis.incr(done_key)

    queue = JobQueue.from_url(settings.redis.url, settings)
    await queue.connect()
    started = time.perf_counter()
    for n in range(jobs):
        await queue.enqueue("bench.noop", n=n)
    enqueue_seconds = time.perf_counter() - started

    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop, registry=registry))
    started = time.perf_counter()
    while int(await redis.get(done_key) or 0) < jobs:
        await asyncio.sleep(0.05)
        if worker.done():
            await worker
    work_seconds = time.perf_counter() - started
    stop.set()
    await worker
    await queue.disconnect()
    await redis.delete(done_key)
    await redis.aclose()
    return {
        "bench": "queue_throughput",
        "jobs": jobs,
        "concurrency": concurrency,
        "enqueue_per_s": round(jobs / enqueue_seconds, 1),
        "complete_per_s": round(jobs / work_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.jobs, args.concurrency))))


if __name__ == "__main__":
    main()
