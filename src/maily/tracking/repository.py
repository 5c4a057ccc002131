"""SQL of the tracking pages that may read PostgreSQL (preference center, view online).

A page knows only its delivery id (from a signed token); every read after the delivery
is scoped to that delivery's workspace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from maily.kit.db import AsyncSession
from maily.models import Campaign, Contact, Delivery, ListMembership, MailingList, Workspace

__all__ = ["PageDelivery", "PreferenceList", "TrackingRepository"]


@dataclass(frozen=True, slots=True)
class PageDelivery:
    id: uuid.UUID
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    contact_id: uuid.UUID
    variant: str | None
    email: str


@dataclass(frozen=True, slots=True)
class PreferenceList:
    id: uuid.UUID
    name: str
    description: str
    status: str  # subscribed | unconfirmed | unsubscribed


class TrackingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def delivery(self, delivery_id: uuid.UUID) -> PageDelivery | None:
        row = (
            await self.session.execute(
                select(
                    Delivery.workspace_id,
                    Delivery.campaign_id,
                    Delivery.contact_id,
                    Delivery.variant,
                    Delivery.email,
                ).where(Delivery.id == delivery_id)
            )
        ).first()
        if row is None:
            return None
        return PageDelivery(delivery_id, *row)

    async def public_lists(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID
    ) -> list[PreferenceList]:
        """The public lists the contact is on (in any status), by name."""
        rows = await self.session.execute(
            select(MailingList.id, MailingList.name, MailingList.description, ListMembership.status)
            .join(
                ListMembership,
                (ListMembership.workspace_id == MailingList.workspace_id)
                & (ListMembership.list_id == MailingList.id),
            )
            .where(
                MailingList.workspace_id == workspace_id,
                ListMembership.contact_id == contact_id,
                MailingList.visibility == "public",
            )
            .order_by(MailingList.name, MailingList.id)
        )
        return [PreferenceList(*row) for row in rows]

    async def contact(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> Contact | None:
        return await self.session.get(Contact, (workspace_id, contact_id))

    async def campaign(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign | None:
        return await self.session.get(Campaign, (workspace_id, campaign_id))

    async def workspace(self, workspace_id: uuid.UUID) -> Workspace | None:
        return await self.session.get(Workspace, workspace_id)
