"""Helpers shared by the queue and worker tests (plain functions, not fixtures)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from maily.config import Settings
from tests.conftest import Stores


def queue_redis_url_for(stores: Stores) -> str:
    """A Redis database of its own, counted down from 15: the shared `redis` fixture
    flushes database 1 + xdist worker index at every test start, which would wipe
    the queue under a running worker (also when another checkout runs tests)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    base = stores.redis_url.rsplit("/", 1)[0]
    return f"{base}/{15 - int(worker.removeprefix('gw') or 0)}"


def make_queue_settings(stores: Stores, redis_url: str, queue_name: str, **queue: Any) -> Settings:
    """Settings with short timers, so retries, sweeps and shutdowns happen in seconds."""
    values: dict[str, Any] = {
        "name": queue_name,
        "concurrency": 4,
        "heartbeat_timeout_seconds": 2,
        "sweep_interval_seconds": 1,
        "sweep_abort_wait_seconds": 1.0,
        "default_retries": 3,
        "default_timeout_seconds": 30,
        "retry_delay_seconds": 0.2,
        "retry_max_delay_seconds": 1.0,
        "shutdown_grace_seconds": 5,
        "dequeue_timeout_seconds": 0.1,
    }
    values.update(queue)
    return Settings(
        _env_file=None,
        database_url=stores.admin_database_url,
        redis_url=redis_url,
        queue=values,
    )


@dataclass(frozen=True)
class RunningWorker:
    """A `run_worker` running in the test's event loop."""

    stop: asyncio.Event
    task: asyncio.Task[None]
