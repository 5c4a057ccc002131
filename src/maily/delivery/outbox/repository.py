"""All SQL of the outbox: one multi-row insert per batch, listing, reading, clearing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import defer

from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams, paginate
from maily.models import OutboxMessage

# Rows per INSERT: nine parameters each keeps a statement far below PostgreSQL's
# 32767 bind parameters, and a sender's batch (a few hundred) fits in one.
INSERT_ROWS = 1000


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(rows), INSERT_ROWS):
            chunk = list(rows[start : start + INSERT_ROWS])
            await self.session.execute(insert(OutboxMessage).values(chunk))

    async def list(
        self,
        workspace_id: uuid.UUID,
        page: PageParams,
        *,
        recipient: str | None = None,
        delivery_id: uuid.UUID | None = None,
    ) -> list[OutboxMessage]:
        # The raw message stays in the table: a page lists summaries only.
        query = (
            select(OutboxMessage)
            .options(defer(OutboxMessage.raw, raiseload=True))
            .where(OutboxMessage.workspace_id == workspace_id)
        )
        if recipient is not None:
            query = query.where(OutboxMessage.recipient == recipient)
        if delivery_id is not None:
            query = query.where(OutboxMessage.delivery_id == delivery_id)
        query = paginate(query, OutboxMessage.id, page, newest_first=True)
        return list((await self.session.execute(query)).scalars())

    async def get(self, workspace_id: uuid.UUID, message_id: uuid.UUID) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, (workspace_id, message_id))

    async def clear(self, workspace_id: uuid.UUID) -> int:
        result = await self.session.execute(
            delete(OutboxMessage).where(OutboxMessage.workspace_id == workspace_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
