"""All SQL behind GDPR access and erasure: everything held about one contact."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Text, case, cast, delete, func, select
from sqlalchemy.dialects.postgresql import insert

from maily.kit.db import AsyncSession
from maily.kit.db.base import new_uuid
from maily.models import (
    ConsentRecord,
    Contact,
    CustomField,
    Delivery,
    Event,
    ListMembership,
    MailingList,
    PendingEvent,
    SuppressionEntry,
)


class PrivacyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def contact(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, *, for_update: bool = False
    ) -> Contact | None:
        query = select(Contact).where(
            Contact.workspace_id == workspace_id, Contact.id == contact_id
        )
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def field_labels(self, workspace_id: uuid.UUID) -> dict[str, str]:
        query = select(CustomField.key, CustomField.label).where(
            CustomField.workspace_id == workspace_id
        )
        return {key: label for key, label in await self.session.execute(query)}

    async def memberships(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID
    ) -> Sequence[tuple[ListMembership, str]]:
        query = (
            select(ListMembership, MailingList.name)
            .join(
                MailingList,
                (MailingList.workspace_id == ListMembership.workspace_id)
                & (MailingList.id == ListMembership.list_id),
            )
            .where(
                ListMembership.workspace_id == workspace_id,
                ListMembership.contact_id == contact_id,
            )
            .order_by(ListMembership.created_at, ListMembership.list_id)
        )
        return [(m, name) for m, name in await self.session.execute(query)]

    async def consent_records(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID
    ) -> Sequence[ConsentRecord]:
        query = (
            select(ConsentRecord)
            .where(
                ConsentRecord.workspace_id == workspace_id, ConsentRecord.contact_id == contact_id
            )
            .order_by(ConsentRecord.occurred_at, ConsentRecord.id)
        )
        return (await self.session.execute(query)).scalars().all()

    async def events(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> Sequence[Event]:
        query = (
            select(Event)
            .where(Event.workspace_id == workspace_id, Event.contact_id == contact_id)
            .order_by(Event.occurred_at, Event.id)
        )
        return (await self.session.execute(query)).scalars().all()

    async def address_suppressions(
        self, workspace_id: uuid.UUID, value_hash: bytes
    ) -> Sequence[SuppressionEntry]:
        query = select(SuppressionEntry).where(
            SuppressionEntry.workspace_id == workspace_id,
            SuppressionEntry.kind == "address",
            SuppressionEntry.value_hash == value_hash,
        )
        return (await self.session.execute(query)).scalars().all()

    # -- erasure ---------------------------------------------------------------

    async def delete_events(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> int:
        result = await self.session.execute(
            delete(Event)
            .where(Event.workspace_id == workspace_id, Event.contact_id == contact_id)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete_held_events(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> int:
        """The contact's bounce, complaint and provider events still waiting to be
        relayed to the stream (`pending_events`, keyed by delivery id only): a bounce's
        diagnostic may quote the address. Before the contact goes, since its deliveries
        go with it."""
        deliveries = select(func.replace(cast(Delivery.id, Text), "-", "")).where(
            Delivery.workspace_id == workspace_id, Delivery.contact_id == contact_id
        )
        result = await self.session.execute(
            delete(PendingEvent)
            .where(PendingEvent.fields["d"].astext.in_(deliveries))
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def keep_hashed_suppression(
        self, workspace_id: uuid.UUID, email: str, value_hash: bytes
    ) -> uuid.UUID:
        """Leave exactly one address entry for the hash, with no address in it.

        One statement, so a concurrent suppression of the same address cannot slip
        in between a check and an insert. An existing entry keeps its reason (a hard
        bounce stays a hard bounce) but loses the address, and its note when the note
        quotes the address."""
        query = (
            insert(SuppressionEntry)
            .values(
                workspace_id=workspace_id,
                id=new_uuid(),
                kind="address",
                value=None,
                value_hash=value_hash,
                reason="erased",
            )
            .on_conflict_do_update(
                index_elements=["workspace_id", "kind", "value_hash"],
                set_={
                    "value": None,
                    "note": case(
                        (func.strpos(func.lower(SuppressionEntry.note), email) > 0, ""),
                        else_=SuppressionEntry.note,
                    ),
                    "updated_at": func.now(),
                },
            )
            .returning(SuppressionEntry.id)
        )
        return (await self.session.execute(query)).scalar_one()

    async def delete_contact(self, contact: Contact) -> None:
        # Memberships and consent records go with it (ON DELETE CASCADE).
        await self.session.delete(contact)
        await self.session.flush()
