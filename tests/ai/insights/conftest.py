"""Fixtures of the insights tests: a committed world (as the engine tests use) and spamd."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.kit.db import create_sessionmaker
from maily.kit.queue import JobQueue
from tests.ai.checks.spamd import Spamd, running_spamd
from tests.campaigns.support import World, drop_world, new_world


@pytest.fixture
async def world(engine: AsyncEngine, job_queue_for_requests: JobQueue) -> AsyncIterator[World]:
    created = await new_world(create_sessionmaker(engine))
    try:
        yield created
    finally:
        await drop_world(created)


@pytest.fixture(scope="session")
def spamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spamd]:
    with running_spamd(tmp_path_factory.mktemp("spamd")) as server:
        yield server
