"""All SQL of sending domains and senders, always scoped to one workspace."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError

from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams, paginate
from maily.models import Sender, SendingDomain


class DuplicateDomain(Exception):
    """The workspace already has this domain."""


class SendingDomainRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, workspace_id: uuid.UUID, domain_id: uuid.UUID) -> SendingDomain | None:
        return await self.session.get(SendingDomain, (workspace_id, domain_id))

    async def get_for_update(
        self, workspace_id: uuid.UUID, domain_id: uuid.UUID
    ) -> SendingDomain | None:
        """Locked until the transaction ends: two checks of one domain at once would
        otherwise both record a first verification."""
        query = (
            select(SendingDomain)
            .where(SendingDomain.workspace_id == workspace_id, SendingDomain.id == domain_id)
            .with_for_update()
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def by_name(self, workspace_id: uuid.UUID, domain: str) -> SendingDomain | None:
        query = select(SendingDomain).where(
            SendingDomain.workspace_id == workspace_id, SendingDomain.domain == domain
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list(self, workspace_id: uuid.UUID, page: PageParams) -> list[SendingDomain]:
        query = select(SendingDomain).where(SendingDomain.workspace_id == workspace_id)
        return list((await self.session.execute(paginate(query, SendingDomain.id, page))).scalars())

    async def add(self, domain: SendingDomain) -> SendingDomain:
        try:
            # A savepoint, so a concurrent insert of the same domain is a clean 409
            # and leaves the request's transaction usable.
            async with self.session.begin_nested():
                self.session.add(domain)
                await self.session.flush()
        except IntegrityError as exc:
            raise DuplicateDomain from exc
        return domain

    async def save(self, domain: SendingDomain) -> SendingDomain:
        await self.session.flush()
        await self.session.refresh(domain, ["updated_at"])
        return domain

    async def delete(self, domain: SendingDomain) -> None:
        await self.session.delete(domain)
        await self.session.flush()

    async def sender_count(self, workspace_id: uuid.UUID, domain_id: uuid.UUID) -> int:
        query = select(func.count()).where(
            Sender.workspace_id == workspace_id, Sender.sending_domain_id == domain_id
        )
        return int((await self.session.execute(query)).scalar_one())


class SenderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _with_domain(self, workspace_id: uuid.UUID) -> Select[Sender, SendingDomain]:
        return (
            select(Sender, SendingDomain)
            .join(
                SendingDomain,
                (SendingDomain.workspace_id == Sender.workspace_id)
                & (SendingDomain.id == Sender.sending_domain_id),
            )
            .where(Sender.workspace_id == workspace_id)
        )

    async def get(
        self, workspace_id: uuid.UUID, sender_id: uuid.UUID
    ) -> tuple[Sender, SendingDomain] | None:
        query = self._with_domain(workspace_id).where(Sender.id == sender_id)
        row = (await self.session.execute(query)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def list(
        self, workspace_id: uuid.UUID, page: PageParams
    ) -> list[tuple[Sender, SendingDomain]]:
        query = paginate(self._with_domain(workspace_id), Sender.id, page)
        return [(row[0], row[1]) for row in await self.session.execute(query)]

    async def add(self, sender: Sender) -> Sender:
        self.session.add(sender)
        await self.session.flush()
        return sender

    async def save(self, sender: Sender) -> Sender:
        await self.session.flush()
        await self.session.refresh(sender, ["updated_at"])
        return sender

    async def delete(self, sender: Sender) -> None:
        await self.session.delete(sender)
        await self.session.flush()
