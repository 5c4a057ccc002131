"""All SQL of bounce handling: finding the delivery a report is about, keeping the record,
and the changes the policy asks for. Every statement after the lookup is scoped to
the delivery's workspace."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from maily.contacts.addresses import value_hash
from maily.contacts.repository import SuppressionRepository
from maily.kit.db import AsyncSession
from maily.kit.db.base import new_uuid
from maily.models import BounceRecord, Contact, Delivery, SuppressionEntry


@dataclass(frozen=True, slots=True)
class DeliveryRef:
    workspace_id: uuid.UUID
    id: uuid.UUID
    campaign_id: uuid.UUID
    contact_id: uuid.UUID
    email: str
    status: str


_COLUMNS = (
    Delivery.workspace_id,
    Delivery.id,
    Delivery.campaign_id,
    Delivery.contact_id,
    Delivery.email,
    Delivery.status,
)

# A bounce arriving after the message was accepted turns these into 'bounced'.
_BOUNCEABLE = ("sent", "unknown", "deferred")


class BounceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def delivery_by_id(
        self, delivery_id: uuid.UUID, workspace_id: uuid.UUID | None = None
    ) -> DeliveryRef | None:
        query = select(*_COLUMNS).where(Delivery.id == delivery_id)
        if workspace_id is not None:
            query = query.where(Delivery.workspace_id == workspace_id)
        row = (await self.session.execute(query.limit(2))).all()
        return DeliveryRef(*row[0]) if len(row) == 1 else None

    async def deliveries_by_provider_id(self, provider_ids: Sequence[str]) -> list[DeliveryRef]:
        if not provider_ids:
            return []
        query = select(*_COLUMNS).where(Delivery.provider_message_id.in_(list(provider_ids)))
        return [DeliveryRef(*row) for row in (await self.session.execute(query.limit(50))).all()]

    async def soft_bounces_since(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, since: datetime
    ) -> int:
        query = select(func.count()).where(
            BounceRecord.workspace_id == workspace_id,
            BounceRecord.contact_id == contact_id,
            BounceRecord.kind == "soft",
            BounceRecord.occurred_at >= since,
        )
        return int((await self.session.execute(query)).scalar_one())

    async def add_record(
        self,
        delivery: DeliveryRef,
        *,
        kind: str,
        source: str,
        event_key: str,
        code: str,
        diagnostic: str,
        effect: str,
        occurred_at: datetime,
    ) -> uuid.UUID | None:
        """Insert the record; None when this event was recorded before."""
        query = (
            insert(BounceRecord)
            .values(
                workspace_id=delivery.workspace_id,
                id=new_uuid(),
                delivery_id=delivery.id,
                contact_id=delivery.contact_id,
                campaign_id=delivery.campaign_id,
                kind=kind,
                source=source,
                event_key=event_key,
                code=code,
                diagnostic=diagnostic,
                effect=effect,
                occurred_at=occurred_at,
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "source", "event_key"])
            .returning(BounceRecord.id)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def suppress(self, workspace_id: uuid.UUID, email: str, reason: str, note: str) -> bool:
        """Suppress the address; False when it was suppressed already."""
        entry = await SuppressionRepository(self.session).add(
            SuppressionEntry(
                workspace_id=workspace_id,
                kind="address",
                value=email,
                value_hash=value_hash(email),
                reason=reason,
                note=note[:500],
            )
        )
        return entry is not None

    async def contact_for_update(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID
    ) -> Contact | None:
        query = (
            select(Contact)
            .where(Contact.workspace_id == workspace_id, Contact.id == contact_id)
            .with_for_update()
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def mark_delivery_bounced(
        self, delivery: DeliveryRef, code: int | None, detail: str
    ) -> None:
        await self.session.execute(
            update(Delivery)
            .where(
                Delivery.workspace_id == delivery.workspace_id,
                Delivery.id == delivery.id,
                Delivery.status.in_(_BOUNCEABLE),
            )
            .values(
                status="bounced", last_code=code, last_detail=detail[:1000], updated_at=func.now()
            )
        )

    async def records_of_delivery(
        self, workspace_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> list[BounceRecord]:
        query = (
            select(BounceRecord)
            .where(
                BounceRecord.workspace_id == workspace_id, BounceRecord.delivery_id == delivery_id
            )
            .order_by(BounceRecord.occurred_at)
        )
        return list((await self.session.execute(query)).scalars())
