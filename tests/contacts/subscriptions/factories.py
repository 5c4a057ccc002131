"""Rows for consent tests, written straight through the test's session."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from maily.contacts.addresses import value_hash
from maily.kit.db import AsyncSession
from maily.models import (
    ConsentRecord,
    Contact,
    ListMembership,
    MailingList,
    SuppressionEntry,
    Workspace,
)


async def workspace(session: AsyncSession) -> Workspace:
    row = Workspace(name="Shop", slug=f"shop-{uuid.uuid4().hex[:10]}")
    session.add(row)
    await session.flush()
    return row


async def mailing_list(
    session: AsyncSession, workspace_id: uuid.UUID, opt_in: str = "single", name: str = "News"
) -> MailingList:
    row = MailingList(workspace_id=workspace_id, name=name, opt_in=opt_in)
    session.add(row)
    await session.flush()
    return row


async def contact(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    email: str | None = None,
    status: str = "subscribed",
) -> Contact:
    row = Contact(
        workspace_id=workspace_id,
        email=email or f"p-{uuid.uuid4().hex[:10]}@example.com",
        status=status,
    )
    session.add(row)
    await session.flush()
    return row


async def suppress(
    session: AsyncSession, workspace_id: uuid.UUID, value: str, kind: str = "address"
) -> None:
    session.add(
        SuppressionEntry(
            workspace_id=workspace_id,
            kind=kind,
            value=value,
            value_hash=value_hash(value),
            reason="manual",
        )
    )
    await session.flush()


async def consents(
    session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID
) -> list[ConsentRecord]:
    query = (
        select(ConsentRecord)
        .where(ConsentRecord.workspace_id == workspace_id, ConsentRecord.contact_id == contact_id)
        .order_by(ConsentRecord.occurred_at, ConsentRecord.id)
    )
    return list((await session.execute(query)).scalars())


async def membership(
    session: AsyncSession, workspace_id: uuid.UUID, list_id: uuid.UUID, contact_id: uuid.UUID
) -> ListMembership | None:
    return await session.get(
        ListMembership, (workspace_id, list_id, contact_id), populate_existing=True
    )
