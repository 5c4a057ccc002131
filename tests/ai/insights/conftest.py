"""Fixtures of the insights tests: a committed world (as the engine tests use)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.kit.db import create_sessionmaker
from maily.kit.queue import JobQueue
from tests.campaigns.support import World, drop_world, new_world


@pytest.fixture
async def world(engine: AsyncEngine, job_queue_for_requests: JobQueue) -> AsyncIterator[World]:
    created = await new_world(create_sessionmaker(engine))
    try:
        yield created
    finally:
        await drop_world(created)
