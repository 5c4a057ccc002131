"""Jobs enqueued by requests (imports, in the re-import test) are recorded and run in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contacts.exports.support import RecordingQueue, recording_queue


@pytest.fixture
async def jobs() -> AsyncIterator[RecordingQueue]:
    async with recording_queue() as queue:
        yield queue
