"""A message kept by the outbox transport, for the cross-workspace suite."""

from __future__ import annotations

import uuid
from contextlib import suppress
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker

from maily.api.deps import get_session
from maily.delivery.transports.base import Outcome
from maily.delivery.transports.outbox import OutboxTransport
from maily.kit.db import AsyncSession, create_sessionmaker
from tests.conftest import Account
from tests.delivery.fake_providers import outgoing


def sessionmaker_on(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions inside the test's transaction: the outbox's commits become savepoints."""
    sessionmaker = create_sessionmaker(connection)  # type: ignore[arg-type]
    sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")
    return sessionmaker


async def seed_outbox(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    # The transport writes on its own session factory; here it is one on the test's
    # connection, reached through the app's unit of work as a request would.
    app: Any = client._transport.app  # type: ignore[attr-defined]
    unit = app.dependency_overrides[get_session]()
    session = await anext(unit)
    transport = OutboxTransport(sessionmaker_on(await session.connection()))
    [result] = await transport.send(
        [outgoing(f"seed-{uuid.uuid4().hex[:8]}@example.com", workspace_id=owner.workspace_id)]
    )
    await transport.aclose()
    with suppress(StopAsyncIteration):
        await anext(unit)
    assert result.outcome is Outcome.sent, result.detail
    assert result.provider_message_id is not None
    return {"message_id": uuid.UUID(result.provider_message_id)}


SEEDERS = [seed_outbox]
