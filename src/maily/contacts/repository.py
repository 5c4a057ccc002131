"""All SQL for contacts, custom fields, lists, memberships and suppressions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import CTE, ColumnElement, Select, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from maily.contacts.audience import is_suppressed
from maily.contacts.fields import FieldSpec, FieldType
from maily.contacts.schemas import ContactSearch
from maily.kit.db import AsyncSession
from maily.kit.db.base import new_uuid
from maily.kit.pagination import PageParams, paginate
from maily.models import (
    ConsentRecord,
    Contact,
    CustomField,
    ListMembership,
    MailingList,
    SuppressionEntry,
)


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


class CustomFieldRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, workspace_id: uuid.UUID) -> Sequence[CustomField]:
        query = (
            select(CustomField)
            .where(CustomField.workspace_id == workspace_id)
            .order_by(CustomField.key)
        )
        return (await self.session.execute(query)).scalars().all()

    async def specs(self, workspace_id: uuid.UUID) -> dict[str, FieldSpec]:
        return {
            f.key: FieldSpec(f.key, FieldType(f.type), tuple(f.choices))
            for f in await self.list(workspace_id)
        }

    async def get(self, workspace_id: uuid.UUID, field_id: uuid.UUID) -> CustomField | None:
        return await self.session.get(CustomField, (workspace_id, field_id))

    async def key_taken(self, workspace_id: uuid.UUID, key: str) -> bool:
        query = select(CustomField.id).where(
            CustomField.workspace_id == workspace_id, CustomField.key == key
        )
        return (await self.session.execute(query)).first() is not None

    async def add(self, field: CustomField) -> CustomField:
        self.session.add(field)
        await self.session.flush()
        return field

    async def delete(self, field: CustomField) -> None:
        # Values of the field go with it, so segments and exports never see orphans.
        await self.session.execute(
            update(Contact)
            .where(Contact.workspace_id == field.workspace_id, Contact.fields.has_key(field.key))
            .values(fields=Contact.fields.op("-")(field.key))
        )
        await self.session.delete(field)
        await self.session.flush()


class ListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, workspace_id: uuid.UUID, list_id: uuid.UUID) -> MailingList | None:
        return await self.session.get(MailingList, (workspace_id, list_id))

    async def existing_ids(
        self, workspace_id: uuid.UUID, list_ids: Sequence[uuid.UUID]
    ) -> set[uuid.UUID]:
        query = select(MailingList.id).where(
            MailingList.workspace_id == workspace_id, MailingList.id.in_(list_ids)
        )
        return set((await self.session.execute(query)).scalars())

    async def add(self, mailing_list: MailingList) -> MailingList:
        self.session.add(mailing_list)
        await self.session.flush()
        return mailing_list

    async def delete(self, mailing_list: MailingList) -> None:
        await self.session.delete(mailing_list)
        await self.session.flush()

    async def list(self, workspace_id: uuid.UUID, page: PageParams) -> list[MailingList]:
        query = paginate(
            select(MailingList).where(MailingList.workspace_id == workspace_id),
            MailingList.id,
            page,
        )
        return list((await self.session.execute(query)).scalars())

    async def counts(
        self, workspace_id: uuid.UUID, list_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, int]]:
        query = (
            select(ListMembership.list_id, ListMembership.status, func.count())
            .where(
                ListMembership.workspace_id == workspace_id, ListMembership.list_id.in_(list_ids)
            )
            .group_by(ListMembership.list_id, ListMembership.status)
        )
        counts: dict[uuid.UUID, dict[str, int]] = {}
        for list_id, status, count in await self.session.execute(query):
            counts.setdefault(list_id, {})[status] = count
        return counts


class ContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> Contact | None:
        return await self.session.get(Contact, (workspace_id, contact_id))

    async def get_by_email(self, workspace_id: uuid.UUID, email: str) -> Contact | None:
        query = select(Contact).where(Contact.workspace_id == workspace_id, Contact.email == email)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, contact: Contact) -> Contact:
        self.session.add(contact)
        await self.session.flush()
        await self.session.refresh(contact)  # generated columns (hash, domain) and defaults
        return contact

    async def refresh(self, contact: Contact) -> None:
        await self.session.flush()
        await self.session.refresh(contact)

    async def search(
        self, workspace_id: uuid.UUID, search: ContactSearch, page: PageParams
    ) -> list[Contact]:
        query = select(Contact).where(Contact.workspace_id == workspace_id)
        if search.q:
            text = search.q.strip().lower()
            query = query.where(
                or_(
                    Contact.email.like(_like_prefix(text), escape="\\"),
                    func.lower(Contact.first_name + " " + Contact.last_name).contains(
                        text, autoescape=True
                    ),
                )
            )
        if search.tag:
            query = query.where(Contact.tags.contains([search.tag]))
        if search.status:
            query = query.where(Contact.status == search.status)
        if search.list_id:
            query = query.where(
                select(ListMembership.contact_id)
                .where(
                    ListMembership.workspace_id == workspace_id,
                    ListMembership.list_id == search.list_id,
                    ListMembership.contact_id == Contact.id,
                )
                .exists()
            )
        if search.field:
            query = query.where(Contact.fields[search.field].astext == (search.value or ""))
        return list((await self.session.execute(paginate(query, Contact.id, page))).scalars())

    async def memberships(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID
    ) -> Sequence[ListMembership]:
        query = (
            select(ListMembership)
            .where(
                ListMembership.workspace_id == workspace_id, ListMembership.contact_id == contact_id
            )
            .order_by(ListMembership.list_id)
        )
        return (await self.session.execute(query)).scalars().all()

    async def consents(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, page: PageParams
    ) -> list[ConsentRecord]:
        query = select(ConsentRecord).where(
            ConsentRecord.workspace_id == workspace_id, ConsentRecord.contact_id == contact_id
        )
        return list((await self.session.execute(paginate(query, ConsentRecord.id, page))).scalars())

    async def is_suppressed(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> bool:
        query = select(is_suppressed(workspace_id)).where(
            Contact.workspace_id == workspace_id, Contact.id == contact_id
        )
        return bool((await self.session.execute(query)).scalar())

    # -- bulk, set-based ---------------------------------------------------------

    def ids(self, workspace_id: uuid.UUID, predicate: ColumnElement[bool]) -> Select[Any]:
        return select(Contact.id).where(Contact.workspace_id == workspace_id, predicate)

    async def add_tag(
        self, workspace_id: uuid.UUID, predicate: ColumnElement[bool], tag: str
    ) -> int:
        result = await self.session.execute(
            update(Contact)
            .where(Contact.workspace_id == workspace_id, predicate, ~Contact.tags.contains([tag]))
            .values(tags=func.array_append(Contact.tags, tag), updated_at=func.now())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def remove_tag(
        self, workspace_id: uuid.UUID, predicate: ColumnElement[bool], tag: str
    ) -> int:
        result = await self.session.execute(
            update(Contact)
            .where(Contact.workspace_id == workspace_id, predicate, Contact.tags.contains([tag]))
            .values(tags=func.array_remove(Contact.tags, tag), updated_at=func.now())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, workspace_id: uuid.UUID, predicate: ColumnElement[bool]) -> int:
        result = await self.session.execute(
            delete(Contact).where(Contact.workspace_id == workspace_id, predicate)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class SuppressionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, entry: SuppressionEntry) -> SuppressionEntry | None:
        """Insert unless the same value is suppressed already; returns None then."""
        values = {
            "workspace_id": entry.workspace_id,
            "id": entry.id or new_uuid(),
            "kind": entry.kind,
            "value": entry.value,
            "value_hash": entry.value_hash,
            "reason": entry.reason,
            "note": entry.note,
        }
        query = (
            insert(SuppressionEntry)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["workspace_id", "kind", "value_hash"])
            .returning(SuppressionEntry)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get(self, workspace_id: uuid.UUID, entry_id: uuid.UUID) -> SuppressionEntry | None:
        return await self.session.get(SuppressionEntry, (workspace_id, entry_id))

    async def delete(self, entry: SuppressionEntry) -> None:
        await self.session.delete(entry)
        await self.session.flush()

    async def list(
        self, workspace_id: uuid.UUID, page: PageParams, q: str | None
    ) -> list[SuppressionEntry]:
        query = select(SuppressionEntry).where(SuppressionEntry.workspace_id == workspace_id)
        if q:
            query = query.where(
                SuppressionEntry.value.like(_like_prefix(q.strip().lower()), escape="\\")
            )
        return list(
            (await self.session.execute(paginate(query, SuppressionEntry.id, page))).scalars()
        )


class BulkMembershipRepository:
    """Set-based list changes for bulk actions, with one consent record per change."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_to_list(
        self, workspace_id: uuid.UUID, ids: Select[Any], list_id: uuid.UUID
    ) -> int:
        # Suppressed addresses, and people who unsubscribed from everything, are never
        # (re)subscribed by an admin, whatever the selection says: only they can opt in.
        targets = ids.where(~is_suppressed(workspace_id), Contact.status == "subscribed")
        changed = (
            insert(ListMembership)
            .from_select(
                ["workspace_id", "list_id", "contact_id", "status"],
                select(
                    Contact.workspace_id,
                    literal(list_id, ListMembership.list_id.type),
                    Contact.id,
                    literal("subscribed", ListMembership.status.type),
                ).where(Contact.workspace_id == workspace_id, Contact.id.in_(targets)),
            )
            .on_conflict_do_update(
                index_elements=["workspace_id", "list_id", "contact_id"],
                set_={"status": "subscribed", "updated_at": func.now()},
                where=ListMembership.status != "subscribed",
            )
            .returning(ListMembership.contact_id)
            .cte("changed")
        )
        # The data-changing CTE must sit at the top of the statement (PostgreSQL rule).
        consent = (
            insert(ConsentRecord)
            .add_cte(changed)
            .from_select(
                ["workspace_id", "id", "contact_id", "list_id", "action", "source"],
                select(
                    literal(workspace_id, ConsentRecord.workspace_id.type),
                    func.maily_uuid7(),
                    changed.c.contact_id,
                    literal(list_id, ConsentRecord.list_id.type),
                    literal("subscribe", ConsentRecord.action.type),
                    literal("admin", ConsentRecord.source.type),
                ),
            )
        )
        result = await self.session.execute(consent)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def remove_from_list(
        self,
        workspace_id: uuid.UUID,
        ids: Select[Any],
        list_id: uuid.UUID,
        channel: str,
    ) -> int:
        changed = (
            update(ListMembership)
            .where(
                ListMembership.workspace_id == workspace_id,
                ListMembership.list_id == list_id,
                ListMembership.contact_id.in_(ids),
                ListMembership.status != "unsubscribed",
            )
            .values(status="unsubscribed", updated_at=func.now())
            .returning(ListMembership.contact_id)
            .cte("changed")
        )
        return await self._record_unsubscribes(
            workspace_id, changed, changed.c.contact_id, list_id, channel
        )

    async def unsubscribe(self, workspace_id: uuid.UUID, ids: Select[Any], channel: str) -> int:
        # Unsubscribed from everything means from every list too, so a later signup
        # to one list does not bring the others back.
        await self.session.execute(
            update(ListMembership)
            .where(
                ListMembership.workspace_id == workspace_id,
                ListMembership.contact_id.in_(ids),
                ListMembership.status != "unsubscribed",
            )
            .values(status="unsubscribed", updated_at=func.now())
        )
        changed = (
            update(Contact)
            .where(
                Contact.workspace_id == workspace_id,
                Contact.id.in_(ids),
                Contact.status == "subscribed",
            )
            .values(status="unsubscribed", updated_at=func.now())
            .returning(Contact.id)
            .cte("changed")
        )
        return await self._record_unsubscribes(workspace_id, changed, changed.c.id, None, channel)

    async def _record_unsubscribes(
        self,
        workspace_id: uuid.UUID,
        changed: CTE,
        contact_ids: ColumnElement[uuid.UUID],
        list_id: uuid.UUID | None,
        channel: str,
    ) -> int:
        consent = (
            insert(ConsentRecord)
            .add_cte(changed)
            .from_select(
                ["workspace_id", "id", "contact_id", "list_id", "action", "source", "channel"],
                select(
                    literal(workspace_id, ConsentRecord.workspace_id.type),
                    func.maily_uuid7(),
                    contact_ids,
                    literal(list_id, ConsentRecord.list_id.type),
                    literal("unsubscribe", ConsentRecord.action.type),
                    literal("admin", ConsentRecord.source.type),
                    literal(channel, ConsentRecord.channel.type),
                ),
            )
        )
        result = await self.session.execute(consent)
        return int(result.rowcount)  # type: ignore[attr-defined]
