"""`maily inbound`'s server running on the test's loop, on a free loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from maily.config import Settings
from maily.delivery.inbound.server import run_inbound
from maily.delivery.verp import Verp
from tests.conftest import make_settings
from tests.delivery.bounces.conftest import other_world

__all__ = ["Inbound", "inbound", "other_world", "running_inbound"]


@dataclass
class Inbound:
    port: int
    settings: Settings
    verp: Verp
    redis: Redis

    async def events(self) -> list[dict[bytes, bytes]]:
        return [f for _, f in await self.redis.xrange(self.settings.analytics.stream_key)]


@asynccontextmanager
async def running_inbound(settings: Settings) -> AsyncIterator[int]:
    """`run_inbound` on this loop until the block ends; yields its port."""
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_inbound(settings, stop, started=started))
    done, _ = await asyncio.wait([task, started], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises what stopped it
    assert started in done, "the inbound server did not start within 30 s"
    try:
        yield started.result()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def inbound(database_url: str, redis_url: str, redis: Redis) -> AsyncIterator[Inbound]:
    settings = make_settings(
        database_url,
        redis_url,
        inbound={"host": "127.0.0.1", "port": 0},
        bounces={"soft_bounce_limit": 3},
    )
    async with running_inbound(settings) as port:
        yield Inbound(port, settings, Verp.from_settings(settings), redis)
