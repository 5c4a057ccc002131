"""The delivery engine's tests share the campaigns tests' committed world; the
end-to-end ones get a committed sending world (domain, sender, template, list)."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.api.state import AppState
from maily.kit.db import create_sessionmaker
from tests.campaigns.conftest import world
from tests.delivery.pipeline import SendingWorld, drop_sending_world, new_sending_world

__all__ = ["sending_world", "world"]


@pytest.fixture
async def sending_world(engine: AsyncEngine, app_state: AppState) -> AsyncIterator[SendingWorld]:
    # app_state installs the secret box the DKIM key is stored encrypted with.
    created = await new_sending_world(create_sessionmaker(engine))
    try:
        yield created
    finally:
        await drop_sending_world(created)
