"""The SQL the mesh needs: a workspace's sent campaigns with their summed rollups."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from maily.kit.db import AsyncSession
from maily.models import Campaign, CampaignStats

__all__ = ["CampaignResultsRepository", "CampaignTotals"]


@dataclass(frozen=True)
class CampaignTotals:
    campaign_id: uuid.UUID
    name: str
    subject: str
    started_at: datetime
    delivered: int
    unique_human_opens: int
    unique_human_clicks: int
    unsubscribes: int
    complaints: int
    bounces: int


def _sum(column: Any) -> ColumnElement[int]:
    return cast(func.coalesce(func.sum(column), 0), BigInteger)


class CampaignResultsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def recent(self, workspace_id: uuid.UUID, limit: int) -> list[CampaignTotals]:
        """Started campaigns, newest first, each with its counters summed over every
        hour and variant; opens and clicks are unique human ones (machine opens, such as
        mail-privacy prefetches and link scanners, left out)."""
        query = (
            select(
                Campaign.id,
                Campaign.name,
                Campaign.subject,
                Campaign.started_at,
                _sum(CampaignStats.sent).label("sent"),
                _sum(CampaignStats.delivered).label("delivered"),
                _sum(CampaignStats.unique_human_opens).label("opens"),
                _sum(CampaignStats.unique_human_clicks).label("clicks"),
                _sum(CampaignStats.unsubscribes).label("unsubscribes"),
                _sum(CampaignStats.complaints).label("complaints"),
                _sum(CampaignStats.hard_bounces + CampaignStats.soft_bounces).label("bounces"),
            )
            .join(
                CampaignStats,
                (CampaignStats.workspace_id == Campaign.workspace_id)
                & (CampaignStats.campaign_id == Campaign.id),
            )
            .where(Campaign.workspace_id == workspace_id, Campaign.started_at.is_not(None))
            .group_by(Campaign.id, Campaign.name, Campaign.subject, Campaign.started_at)
            .order_by(Campaign.started_at.desc(), Campaign.id)
            .limit(limit)
        )
        rows = await self.session.execute(query)
        return [
            CampaignTotals(
                row.id,
                row.name,
                row.subject,
                row.started_at,
                # Without delivery notices from a provider, delivered is sent minus
                # bounces (as the campaign report counts it).
                int(row.delivered) or max(0, int(row.sent) - int(row.bounces)),
                int(row.opens),
                int(row.clicks),
                int(row.unsubscribes),
                int(row.complaints),
                int(row.bounces),
            )
            for row in rows
        ]
