"""All SQL of the AI assistant's HTTP side: suggestions and what a task is given
(the workspace's brand, postal address and merge fields), scoped to one workspace."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams, paginate
from maily.models import AISuggestion, CustomField, Workspace


class AIRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def workspace(self, workspace_id: uuid.UUID) -> Workspace | None:
        return await self.session.get(Workspace, workspace_id)

    async def field_keys(self, workspace_id: uuid.UUID) -> list[str]:
        query = (
            select(CustomField.key)
            .where(CustomField.workspace_id == workspace_id)
            .order_by(CustomField.key)
        )
        return list(await self.session.scalars(query))

    async def add_suggestion(self, suggestion: AISuggestion) -> AISuggestion:
        self.session.add(suggestion)
        await self.session.flush()
        return suggestion

    async def suggestion(
        self, workspace_id: uuid.UUID, suggestion_id: uuid.UUID, *, for_update: bool = False
    ) -> AISuggestion | None:
        query = select(AISuggestion).where(
            AISuggestion.workspace_id == workspace_id, AISuggestion.id == suggestion_id
        )
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def suggestions(
        self, workspace_id: uuid.UUID, page: PageParams, status: str | None, kind: str | None
    ) -> list[AISuggestion]:
        query = select(AISuggestion).where(AISuggestion.workspace_id == workspace_id)
        if status is not None:
            query = query.where(AISuggestion.status == status)
        if kind is not None:
            query = query.where(AISuggestion.kind == kind)
        return list(
            await self.session.scalars(paginate(query, AISuggestion.id, page, newest_first=True))
        )
