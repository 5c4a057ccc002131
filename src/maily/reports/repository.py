"""All SQL of the reports: sums over the analytics rollups, scoped to one workspace.

Campaign figures never scan raw events: `campaign_stats` holds a campaign's counters per
hour and variant, so a campaign's report sums at most a few thousand rows. Only a
contact's activity reads `events`, through the contact's index."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, cast, func, literal, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from maily.kit.db import AsyncSession
from maily.models import (
    Campaign,
    CampaignDomainStats,
    CampaignLinkStats,
    CampaignStats,
    Contact,
    Event,
)
from maily.models.analytics import CAMPAIGN_COUNTERS, DOMAIN_COUNTERS, LINK_COUNTERS

CounterRow = dict[str, int]


@dataclass(frozen=True)
class CampaignHeader:
    id: uuid.UUID
    name: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    ab_test: dict[str, Any] | None
    ab_winner: str | None


@dataclass(frozen=True)
class VariantCounters:
    by_variant: dict[str, CounterRow]
    first_hour: datetime | None
    last_hour: datetime | None


@dataclass(frozen=True)
class BucketRow:
    start: datetime
    counters: CounterRow


@dataclass(frozen=True)
class DashboardRow:
    current: bool  # in the chosen period (else the previous one)
    start: datetime
    campaign_id: uuid.UUID
    counters: CounterRow


@dataclass(frozen=True)
class LinkRow:
    variant: str
    link_index: int
    url: str
    counters: CounterRow


@dataclass(frozen=True)
class DomainRow:
    domain: str
    counters: CounterRow


@dataclass(frozen=True)
class ActivityRow:
    id: uuid.UUID
    occurred_at: datetime
    type: str
    campaign_id: uuid.UUID | None
    campaign_name: str | None
    variant: str | None
    machine: str | None
    link_index: int | None
    url: str | None
    data: dict[str, Any]


def _sums(table: Any, names: Sequence[str]) -> list[ColumnElement[Any]]:
    # bigint sums come back as numeric; a cast keeps them integers.
    return [cast(func.coalesce(func.sum(getattr(table, n)), 0), BigInteger).label(n) for n in names]


def _counters(row: Any, names: Sequence[str]) -> CounterRow:
    return {n: int(getattr(row, n)) for n in names}


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def campaign(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID
    ) -> CampaignHeader | None:
        query = select(
            Campaign.id,
            Campaign.name,
            Campaign.status,
            Campaign.started_at,
            Campaign.finished_at,
            Campaign.ab_test,
            Campaign.ab_winner,
        ).where(Campaign.workspace_id == workspace_id, Campaign.id == campaign_id)
        row = (await self.session.execute(query)).one_or_none()
        return CampaignHeader(*row) if row is not None else None

    async def contact_exists(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> bool:
        query = select(literal(1)).where(
            Contact.workspace_id == workspace_id, Contact.id == contact_id
        )
        return (await self.session.execute(query)).first() is not None

    async def variant_counters(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID
    ) -> VariantCounters:
        """The campaign's counters per variant ('' for none), summed over its hours,
        and its first and last hour with figures."""
        query = (
            select(
                CampaignStats.variant,
                func.min(CampaignStats.hour).label("first"),
                func.max(CampaignStats.hour).label("last"),
                *_sums(CampaignStats, CAMPAIGN_COUNTERS),
            )
            .where(
                CampaignStats.workspace_id == workspace_id,
                CampaignStats.campaign_id == campaign_id,
            )
            .group_by(CampaignStats.variant)
            .order_by(CampaignStats.variant)
        )
        rows = list(await self.session.execute(query))
        return VariantCounters(
            {row.variant: _counters(row, CAMPAIGN_COUNTERS) for row in rows},
            min((row.first for row in rows), default=None),
            max((row.last for row in rows), default=None),
        )

    async def campaign_buckets(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, unit: str
    ) -> list[BucketRow]:
        """The campaign's counters per hour or UTC day, all variants together."""
        start = func.date_trunc(unit, CampaignStats.hour, "UTC").label("start")
        query = (
            select(start, *_sums(CampaignStats, CAMPAIGN_COUNTERS))
            .where(
                CampaignStats.workspace_id == workspace_id,
                CampaignStats.campaign_id == campaign_id,
            )
            .group_by(start)
            .order_by(start)
        )
        rows = await self.session.execute(query)
        return [BucketRow(row.start, _counters(row, CAMPAIGN_COUNTERS)) for row in rows]

    async def links(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> list[LinkRow]:
        table = CampaignLinkStats
        query = (
            select(
                table.variant,
                table.link_index,
                table.url,
                *[getattr(table, n) for n in LINK_COUNTERS],
            )
            .where(table.workspace_id == workspace_id, table.campaign_id == campaign_id)
            .order_by(table.variant, table.link_index)
        )
        rows = await self.session.execute(query)
        return [
            LinkRow(row.variant, row.link_index, row.url, _counters(row, LINK_COUNTERS))
            for row in rows
        ]

    async def domains(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, limit: int
    ) -> tuple[list[DomainRow], int]:
        """The `limit` domains most sent to, and how many domains there are."""
        table = CampaignDomainStats
        scope = (table.workspace_id == workspace_id, table.campaign_id == campaign_id)
        query = (
            select(table.domain, *[getattr(table, n) for n in DOMAIN_COUNTERS])
            .where(*scope)
            .order_by(table.sent.desc(), table.domain)
            .limit(limit)
        )
        rows = await self.session.execute(query)
        total = (await self.session.execute(select(func.count()).where(*scope))).scalar_one()
        return [DomainRow(row.domain, _counters(row, DOMAIN_COUNTERS)) for row in rows], total

    async def dashboard_rows(
        self,
        workspace_id: uuid.UUID,
        previous_start: datetime,
        start: datetime,
        end: datetime,
        unit: str,
    ) -> list[DashboardRow]:
        """Counters per bucket and campaign over [previous_start, end); rows before
        `start` belong to the previous period."""
        current = (CampaignStats.hour >= start).label("current")
        bucket = func.date_trunc(unit, CampaignStats.hour, "UTC").label("start")
        query = (
            select(
                current, bucket, CampaignStats.campaign_id, *_sums(CampaignStats, CAMPAIGN_COUNTERS)
            )
            .where(
                CampaignStats.workspace_id == workspace_id,
                CampaignStats.hour >= previous_start,
                CampaignStats.hour < end,
            )
            .group_by(current, bucket, CampaignStats.campaign_id)
        )
        rows = await self.session.execute(query)
        return [
            DashboardRow(row.current, row.start, row.campaign_id, _counters(row, CAMPAIGN_COUNTERS))
            for row in rows
        ]

    async def campaigns_with_provider_deliveries(
        self, workspace_id: uuid.UUID, campaign_ids: Sequence[uuid.UUID]
    ) -> set[uuid.UUID]:
        """Of these campaigns, those with any delivery notice from a provider."""
        if not campaign_ids:
            return set()
        query = (
            select(CampaignStats.campaign_id)
            .where(
                CampaignStats.workspace_id == workspace_id,
                CampaignStats.campaign_id.in_(list(campaign_ids)),
            )
            .group_by(CampaignStats.campaign_id)
            .having(func.sum(CampaignStats.delivered) > 0)
        )
        return set((await self.session.execute(query)).scalars())

    async def activity(
        self,
        workspace_id: uuid.UUID,
        contact_id: uuid.UUID,
        limit: int,
        before: tuple[datetime, uuid.UUID] | None,
        types: Sequence[str],
    ) -> list[ActivityRow]:
        """The contact's events, newest first, `limit` of them from after the keyset
        position `before` (the last item of the previous page)."""
        link = CampaignLinkStats
        query = (
            select(
                Event.id,
                Event.occurred_at,
                Event.type,
                Event.campaign_id,
                Campaign.name,
                Event.variant,
                Event.machine,
                Event.link_index,
                link.url,
                Event.data,
            )
            .outerjoin(
                Campaign,
                and_(Campaign.workspace_id == Event.workspace_id, Campaign.id == Event.campaign_id),
            )
            .outerjoin(
                link,
                and_(
                    link.workspace_id == Event.workspace_id,
                    link.campaign_id == Event.campaign_id,
                    link.variant == func.coalesce(Event.variant, ""),
                    link.link_index == Event.link_index,
                ),
            )
            .where(Event.workspace_id == workspace_id, Event.contact_id == contact_id)
            .order_by(Event.occurred_at.desc(), Event.id.desc())
            .limit(limit)
        )
        if types:
            query = query.where(Event.type.in_(list(types)))
        if before is not None:
            at, last_id = before
            query = query.where(
                tuple_(Event.occurred_at, Event.id) < tuple_(literal(at), literal(last_id))
            )
        rows = await self.session.execute(query)
        return [ActivityRow(*row) for row in rows]
