"""Bounce tests use the campaign tests' committed world (see tests/campaigns/conftest.py)."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.kit.db import create_sessionmaker
from tests.campaigns.conftest import world
from tests.campaigns.support import World, drop_world, new_world

__all__ = ["other_world", "world"]


@pytest.fixture
async def other_world(engine: AsyncEngine) -> AsyncIterator[World]:
    """A second workspace, for tenancy checks."""
    created = await new_world(create_sessionmaker(engine))
    try:
        yield created
    finally:
        await drop_world(created)
