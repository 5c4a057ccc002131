"""All SQL of AI providers and their usage, always scoped to one workspace."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from maily.kit.db import AsyncSession
from maily.models import AIProvider, AIUsage


class ProviderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, workspace_id: uuid.UUID) -> list[AIProvider]:
        """Every provider of the workspace in fallback order (priority, then name)."""
        query = (
            select(AIProvider)
            .where(AIProvider.workspace_id == workspace_id)
            .order_by(AIProvider.priority, AIProvider.name, AIProvider.id)
        )
        return list((await self.session.execute(query)).scalars())

    async def count(self, workspace_id: uuid.UUID) -> int:
        query = select(func.count()).where(AIProvider.workspace_id == workspace_id)
        return int((await self.session.execute(query)).scalar_one())

    async def get(
        self, workspace_id: uuid.UUID, provider_id: uuid.UUID, *, for_update: bool = False
    ) -> AIProvider | None:
        query = select(AIProvider).where(
            AIProvider.workspace_id == workspace_id, AIProvider.id == provider_id
        )
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def name_taken(
        self, workspace_id: uuid.UUID, name: str, *, besides: uuid.UUID | None = None
    ) -> bool:
        query = select(AIProvider.id).where(
            AIProvider.workspace_id == workspace_id, AIProvider.name == name
        )
        if besides is not None:
            query = query.where(AIProvider.id != besides)
        return (await self.session.execute(query.limit(1))).first() is not None

    async def add(self, provider: AIProvider) -> AIProvider:
        self.session.add(provider)
        await self.session.flush()
        await self.session.refresh(provider)
        return provider

    async def save(self, provider: AIProvider) -> AIProvider:
        await self.session.flush()
        await self.session.refresh(provider)
        return provider

    async def delete(self, provider: AIProvider) -> None:
        await self.session.delete(provider)
        await self.session.flush()


class UsageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_calls(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Store model calls; a call already stored (same workspace and call_key) is
        skipped. Returns the call keys that were new."""
        if not rows:
            return set()
        query = (
            insert(AIUsage)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=["workspace_id", "call_key"])
            .returning(AIUsage.call_key)
        )
        return set((await self.session.execute(query)).scalars())

    async def by_day(
        self, workspace_id: uuid.UUID, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """Totals per UTC day in [start, end)."""
        day = func.date_trunc("day", func.timezone("UTC", AIUsage.at)).label("day")
        query = (
            select(day, *_totals())
            .where(AIUsage.workspace_id == workspace_id, AIUsage.at >= start, AIUsage.at < end)
            .group_by(day)
            .order_by(day)
        )
        return [dict(row._mapping) for row in await self.session.execute(query)]

    async def by_model(
        self, workspace_id: uuid.UUID, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """Totals per provider and model in [start, end), costliest first; a provider
        is listed under its current name (a deleted one under the name it had)."""
        name = func.max(AIUsage.provider_name).label("provider_name")
        query = (
            select(AIUsage.provider_id, name, AIUsage.model, *_totals())
            .where(AIUsage.workspace_id == workspace_id, AIUsage.at >= start, AIUsage.at < end)
            .group_by(AIUsage.provider_id, AIUsage.model)
            .order_by(func.sum(AIUsage.cost_usd).desc(), AIUsage.model)
        )
        rows = [dict(row._mapping) for row in await self.session.execute(query)]
        current = {p.id: p.name for p in await ProviderRepository(self.session).list(workspace_id)}
        for row in rows:
            row["provider_name"] = current.get(row["provider_id"], row["provider_name"])
        return rows


def _totals() -> list[Any]:
    return [
        func.coalesce(func.sum(AIUsage.requests), 0).label("requests"),
        func.coalesce(func.sum(AIUsage.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(AIUsage.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(AIUsage.cost_usd), 0).label("cost_usd"),
    ]
