"""All SQL for contact exports: the export records, and the contacts streamed into a file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, String, cast, exists, func, select
from sqlalchemy.dialects.postgresql import JSONB

from maily.contacts.exports.columns import ExportColumns
from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams, paginate
from maily.models import (
    Contact,
    ContactExport,
    CustomField,
    ListMembership,
    MailingList,
)


class ExportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, export: ContactExport) -> ContactExport:
        self.session.add(export)
        await self.session.flush()
        await self.session.refresh(export)  # server defaults: status, rows, created_at
        return export

    async def get(self, workspace_id: uuid.UUID, export_id: uuid.UUID) -> ContactExport | None:
        return await self.session.get(ContactExport, (workspace_id, export_id))

    async def get_for_update(
        self, workspace_id: uuid.UUID, export_id: uuid.UUID
    ) -> ContactExport | None:
        # Locked so two runs of the same job (a retry racing a slow first run) never
        # both write the file and the outcome.
        query = (
            select(ContactExport)
            .where(ContactExport.workspace_id == workspace_id, ContactExport.id == export_id)
            .with_for_update()
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list(self, workspace_id: uuid.UUID, page: PageParams) -> list[ContactExport]:
        """Newest first: ids are UUIDv7, so `id < cursor` walks back in time."""
        query = select(ContactExport).where(ContactExport.workspace_id == workspace_id)
        query = paginate(query, ContactExport.id, page, newest_first=True)
        return list((await self.session.execute(query)).scalars())

    async def list_exists(self, workspace_id: uuid.UUID, list_id: uuid.UUID) -> bool:
        query = select(MailingList.id).where(
            MailingList.workspace_id == workspace_id, MailingList.id == list_id
        )
        return (await self.session.execute(query)).first() is not None

    async def custom_field_keys(self, workspace_id: uuid.UUID) -> set[str]:
        query = select(CustomField.key).where(CustomField.workspace_id == workspace_id)
        return set((await self.session.execute(query)).scalars())

    @staticmethod
    def in_list(workspace_id: uuid.UUID, list_id: uuid.UUID) -> ColumnElement[bool]:
        """Every member of the list, whatever their status there (`list_status` tells)."""
        return exists().where(
            ListMembership.workspace_id == workspace_id,
            ListMembership.list_id == list_id,
            ListMembership.contact_id == Contact.id,
        )

    async def stream_contacts(
        self,
        workspace_id: uuid.UUID,
        predicate: ColumnElement[bool],
        columns: ExportColumns,
        *,
        list_id: uuid.UUID | None,
        batch_size: int,
    ) -> AsyncIterator[Sequence[RowMapping]]:
        """The matching contacts in id order, `batch_size` rows at a time, through a
        server-side cursor: one batch is in memory, however many contacts match.

        Plain columns, not ORM objects, so nothing piles up in the session."""
        selected: list[Any] = [Contact.id.label("id")]
        selected += [
            getattr(Contact, name).label(name) for name in columns.standard if name != "id"
        ]
        if columns.needs_custom:
            selected.append(Contact.fields.label("fields"))
        if columns.needs_list_status and list_id is not None:
            selected.append(
                select(ListMembership.status)
                .where(
                    ListMembership.workspace_id == workspace_id,
                    ListMembership.list_id == list_id,
                    ListMembership.contact_id == Contact.id,
                )
                .scalar_subquery()
                .label("list_status")
            )
        if columns.needs_lists:
            selected.append(
                select(
                    func.jsonb_object_agg(
                        cast(ListMembership.list_id, String), ListMembership.status, type_=JSONB
                    )
                )
                .where(
                    ListMembership.workspace_id == workspace_id,
                    ListMembership.contact_id == Contact.id,
                )
                .scalar_subquery()
                .label("lists")
            )
        query = (
            select(*selected)
            .where(Contact.workspace_id == workspace_id, predicate)
            .order_by(Contact.id)
            .execution_options(yield_per=batch_size)
        )
        result = await self.session.stream(query)
        try:
            async for batch in result.mappings().partitions(batch_size):
                yield batch
        finally:
            await result.close()
