"""Jobs enqueued by export requests are recorded, and run in-process by the tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contacts.exports.support import RecordingQueue, recording_queue


@pytest.fixture
async def jobs() -> AsyncIterator[RecordingQueue]:
    async with recording_queue() as queue:
        yield queue
