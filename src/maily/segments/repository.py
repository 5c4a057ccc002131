"""All SQL of the segments domain: saved segments, and counting contacts by a predicate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, func, select

from maily.contacts.audience import sendable
from maily.contacts.fields import FieldSpec, FieldType
from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams, paginate
from maily.models import Contact, CustomField, MailingList, Segment

# For the count's transaction only (SET LOCAL). 32MB of work_mem per hash table
# holds the ids of ~500k contacts.
COUNT_SETTINGS = (
    ("jit", "off"),
    ("work_mem", "32MB"),
    ("plan_cache_mode", "force_custom_plan"),
)


class SegmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, workspace_id: uuid.UUID, segment_id: uuid.UUID) -> Segment | None:
        return await self.session.get(Segment, (workspace_id, segment_id))

    async def list(self, workspace_id: uuid.UUID, page: PageParams) -> list[Segment]:
        query = select(Segment).where(Segment.workspace_id == workspace_id)
        query = paginate(query, Segment.id, page)
        return list((await self.session.execute(query)).scalars())

    async def add(self, segment: Segment) -> Segment:
        self.session.add(segment)
        await self.session.flush()
        return segment

    async def save(self, segment: Segment) -> Segment:
        await self.session.flush()
        await self.session.refresh(segment, ["updated_at"])
        return segment

    async def delete(self, segment: Segment) -> None:
        await self.session.delete(segment)
        await self.session.flush()

    async def custom_fields(self, workspace_id: uuid.UUID) -> dict[str, FieldSpec]:
        query = select(CustomField.key, CustomField.type, CustomField.choices).where(
            CustomField.workspace_id == workspace_id
        )
        return {
            key: FieldSpec(key, FieldType(type_), tuple(choices))
            for key, type_, choices in await self.session.execute(query)
        }

    async def existing_list_ids(
        self, workspace_id: uuid.UUID, list_ids: Sequence[uuid.UUID]
    ) -> set[uuid.UUID]:
        if not list_ids:
            return set()
        query = select(MailingList.id).where(
            MailingList.workspace_id == workspace_id, MailingList.id.in_(list_ids)
        )
        return set((await self.session.execute(query)).scalars())

    @staticmethod
    def count_query(workspace_id: uuid.UUID, predicate: ColumnElement[bool]) -> Select[int, int]:
        """Contacts matching `predicate`, and how many of them may be mailed at all —
        in one pass over the matches."""
        return (
            select(func.count(), func.count().filter(sendable(workspace_id)))
            .select_from(Contact)
            .where(Contact.workspace_id == workspace_id, predicate)
        )

    async def count(
        self, workspace_id: uuid.UUID, predicate: ColumnElement[bool]
    ) -> tuple[int, int]:
        # Over a large audience the plan's cost passes jit_above_cost, and compiling it
        # (~70 ms) costs more than it saves. An engagement rule inside an `any` group is
        # a subplan that PostgreSQL hashes only if the window's contact ids fit in
        # work_mem; otherwise it probes the events index once per contact (10 s instead
        # of 1.5 s over 1M contacts). And the best plan depends on the values (which
        # partitions, how common a tag is), so a prepared statement's generic plan, used
        # from its sixth run on, is refused: it was 40% slower.
        settings = (func.set_config(name, value, True) for name, value in COUNT_SETTINGS)
        await self.session.execute(select(*settings))
        total, mailable = (
            await self.session.execute(self.count_query(workspace_id, predicate))
        ).one()
        return int(total), int(mailable)
