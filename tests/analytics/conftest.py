"""Fixtures of the analytics tests: a committed world per test, and a clean stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from maily.kit.db import AsyncSession, create_sessionmaker
from tests.analytics.support import AnalyticsWorld, drop_world, new_world


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AnalyticsWorld]:
    created = await new_world(sessionmaker)
    try:
        yield created
    finally:
        await drop_world(created)


@pytest.fixture
async def other_world(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AnalyticsWorld]:
    created = await new_world(sessionmaker)
    try:
        yield created
    finally:
        await drop_world(created)
