"""Rules of the outbox viewer: what a kept message shows once it is read apart."""

from __future__ import annotations

import email
import email.policy
import uuid
from email.message import EmailMessage

from maily.auth.service import WorkspaceContext
from maily.delivery.outbox.repository import OutboxRepository
from maily.delivery.outbox.schemas import OutboxHeader, OutboxMessageDetail, OutboxMessageOut
from maily.kit.db import AsyncSession
from maily.kit.errors import NotFound
from maily.kit.pagination import PageParams
from maily.models import OutboxMessage


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        # An unknown charset or broken transfer encoding: show what can be read.
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None
    # JSON can carry NUL, but Maily's schemas refuse it everywhere; it shows nothing.
    return content.replace("\x00", "") if isinstance(content, str) else None


def read_message(row: OutboxMessage) -> OutboxMessageDetail:
    """Headers and the text and HTML parts of a kept message."""
    parsed = email.message_from_bytes(row.raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    summary = OutboxMessageOut.model_validate(row)
    return OutboxMessageDetail(
        **summary.model_dump(),
        headers=[
            OutboxHeader(name=name, value=str(value).replace("\x00", ""))
            for name, value in parsed.items()
        ],
        text=_part(parsed, "plain"),
        html=_part(parsed, "html"),
    )


class OutboxService:
    def __init__(self, session: AsyncSession) -> None:
        self.messages = OutboxRepository(session)

    async def list(
        self,
        ctx: WorkspaceContext,
        page: PageParams,
        *,
        recipient: str | None = None,
        delivery_id: uuid.UUID | None = None,
    ) -> list[OutboxMessage]:
        return await self.messages.list(
            ctx.workspace_id, page, recipient=recipient, delivery_id=delivery_id
        )

    async def get(self, ctx: WorkspaceContext, message_id: uuid.UUID) -> OutboxMessage:
        row = await self.messages.get(ctx.workspace_id, message_id)
        if row is None:
            raise NotFound("message not found in the outbox")
        return row

    async def read(self, ctx: WorkspaceContext, message_id: uuid.UUID) -> OutboxMessageDetail:
        return read_message(await self.get(ctx, message_id))

    async def clear(self, ctx: WorkspaceContext) -> int:
        return await self.messages.clear(ctx.workspace_id)
