"""CampaignResults over the analytics rollups: what the performance analyst learns from."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from maily.ai.contracts import CampaignResult
from maily.ai.mesh.repository import CampaignResultsRepository
from maily.kit.db import AsyncSession

__all__ = ["RollupCampaignResults"]


class RollupCampaignResults:
    """Reads a workspace's sent campaigns from `campaign_stats`, human opens only.

    `sessions` opens a session per call (an async_sessionmaker), so the AI service
    holds no transaction between a task's steps."""

    def __init__(self, sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]]) -> None:
        self.sessions = sessions

    async def recent(self, workspace_id: uuid.UUID, limit: int = 20) -> list[CampaignResult]:
        async with self.sessions() as session:
            rows = await CampaignResultsRepository(session).recent(workspace_id, limit)
        return [
            CampaignResult(
                campaign_id=row.campaign_id,
                name=row.name,
                subject=row.subject,
                sent_at=row.started_at.isoformat(),
                delivered=row.delivered,
                unique_opens=row.unique_human_opens,
                unique_clicks=row.unique_human_clicks,
                unsubscribes=row.unsubscribes,
                complaints=row.complaints,
                bounces=row.bounces,
            )
            for row in rows
        ]
