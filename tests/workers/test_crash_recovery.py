"""A job whose worker is killed mid-run (SIGKILL) runs again on another worker."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.config import Settings
from maily.kit.db import create_engine
from maily.kit.queue import JobQueue, JobStatus
from tests.conftest import Stores
from tests.kit.queue.support import make_queue_settings, queue_redis_url_for

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(stores: Stores) -> Settings:
    return make_queue_settings(
        stores, queue_redis_url_for(stores), f"test-crash-{uuid.uuid4().hex[:12]}"
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    assert settings.redis.url
    client = Redis.from_url(settings.redis.url)
    yield client
    name = settings.queue.name
    for pattern in (f"saq:{name}:*", f"saq:job:{name}:*", f"{name}:*"):
        keys = [key async for key in client.scan_iter(match=pattern)]
        if keys:
            await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    assert settings.database.url
    engine = create_engine(settings.database.url, pool_size=1)
    yield engine
    await engine.dispose()


@pytest.fixture
async def schema(engine: AsyncEngine) -> AsyncIterator[str]:
    name = f"crash_test_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        await conn.execute(text(f'CREATE TABLE "{name}".completed (job_id text, attempt int)'))
    yield name
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))


def worker_env(settings: Settings) -> dict[str, str]:
    assert settings.database.url
    assert settings.redis.url
    env = {
        **os.environ,
        "MAILY_ENVIRONMENT": "development",
        "MAILY_DATABASE__URL": settings.database.url,
        "MAILY_REDIS__URL": settings.redis.url,
    }
    for field, value in settings.queue.model_dump().items():
        env[f"MAILY_QUEUE__{field.upper()}"] = str(value)
    return env


class WorkerProcesses:
    """`maily worker` processes started by the test, each logging to its own file."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self._env = worker_env(settings)
        self._log_dir = log_dir
        self.started: list[asyncio.subprocess.Process] = []

    async def start(self) -> asyncio.subprocess.Process:
        log = self._log_dir / f"worker-{len(self.started) + 1}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.workers.worker_process",
                cwd=REPO_ROOT,
                env=self._env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()}" for path in sorted(self._log_dir.glob("*.log"))
        )


@pytest.fixture
async def workers(settings: Settings, tmp_path: Path) -> AsyncIterator[WorkerProcesses]:
    processes = WorkerProcesses(settings, tmp_path)
    yield processes
    for process in processes.started:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_job_of_a_killed_worker_runs_again(
    settings: Settings, redis: Redis, engine: AsyncEngine, schema: str, workers: WorkerProcesses
) -> None:
    assert settings.redis.url
    queue = JobQueue.from_url(settings.redis.url, settings)
    await queue.connect()
    started = f"{settings.queue.name}:started"
    try:
        job_id = await queue.enqueue("crash_test.block_first_run", started=started, schema=schema)

        first = await workers.start()
        popped = await redis.blpop([started], timeout=20)
        assert popped is not None, f"the first worker never started the job\n{workers.logs()}"
        assert popped[1] == b"1"
        info = await queue.job(job_id)
        assert info is not None
        assert info.status is JobStatus.active

        first.kill()  # SIGKILL: no shutdown, no acknowledgement, no more heartbeats
        await first.wait()
        second = await workers.start()

        popped = await redis.blpop([started], timeout=20)
        assert popped is not None, f"the job was not run again\n{workers.logs()}"
        assert popped[1] == b"2"
        deadline = time.monotonic() + 10
        while (info := await queue.job(job_id)) is None or info.status is not JobStatus.complete:
            assert time.monotonic() < deadline, f"job not complete: {info}\n{workers.logs()}"
            await asyncio.sleep(0.05)
        async with engine.connect() as conn:
            rows = (await conn.execute(text(f'SELECT * FROM "{schema}".completed'))).all()
        assert [tuple(row) for row in rows] == [(job_id, 2)]

        second.terminate()  # SIGTERM: a graceful stop
        assert await asyncio.wait_for(second.wait(), timeout=15) == 0, workers.logs()
    finally:
        await queue.disconnect()
