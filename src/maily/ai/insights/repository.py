"""All SQL of the insights: engagement counted by local hour of the week, a contact's
message history, and a campaign's per-variant rollups. Every query is scoped to one
workspace.

Engagement is human opens and clicks only (`events.machine IS NULL`: no mail-privacy
proxy, scanner or prefetch), by the contact's own timezone — or the fallback zone when
the contact has none, or one PostgreSQL does not know."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, String, and_, cast, extract, func, literal, select
from sqlalchemy.sql import column, table

from maily.kit.db import AsyncSession
from maily.models import Campaign, Contact, Delivery, Event

ENGAGEMENT_EVENTS = ("open", "click")
# The server's zone names, to tell a valid contact timezone from a typo (AT TIME ZONE
# would fail the whole statement on a bad name).
_ZONES = table("pg_timezone_names", column("name", String), schema="pg_catalog").alias("zone")


def _zone(fallback: str) -> ColumnElement[str]:
    return func.coalesce(_ZONES.c.name, literal(fallback, String))


def _hour_of_week(zone: ColumnElement[str]) -> ColumnElement[int]:
    """The local hour of the week of an event (Monday 00:00 = 0)."""
    local = func.timezone(zone, Event.occurred_at)
    return cast((extract("isodow", local) - 1) * 24 + extract("hour", local), Integer)


def _engagement(since: datetime) -> ColumnElement[bool]:
    return and_(
        Event.workspace_id == Contact.workspace_id,
        Event.contact_id == Contact.id,
        Event.type.in_(ENGAGEMENT_EVENTS),
        Event.machine.is_(None),
        Event.occurred_at >= since,
    )


@dataclass
class AudienceEngagement:
    """Each contact of an audience: their zone and engagement by local hour of the week."""

    zones: dict[uuid.UUID, str]
    counts: dict[uuid.UUID, dict[int, float]]


@dataclass(frozen=True, slots=True)
class MessageRow:
    sent_at: datetime
    opened: bool
    clicked: bool


@dataclass(frozen=True, slots=True)
class ContactHistory:
    timezone: str
    status: str
    counts: dict[int, float]
    messages: list[MessageRow]


class InsightsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def workspace_totals(
        self, workspace_id: uuid.UUID, since: datetime, fallback_zone: str = "UTC"
    ) -> dict[int, float]:
        """The workspace's human opens and clicks since `since` by local hour of the week."""
        how = _hour_of_week(_zone(fallback_zone)).label("how")
        query = (
            select(how, func.count())
            .select_from(Contact)
            .join(Event, _engagement(since))
            .outerjoin(_ZONES, _ZONES.c.name == Contact.timezone)
            .where(Contact.workspace_id == workspace_id)
            .group_by(how)
        )
        return {int(h): float(n) for h, n in await self.session.execute(query)}

    async def audience_engagement(
        self,
        workspace_id: uuid.UUID,
        audience: ColumnElement[bool],
        since: datetime,
        fallback_zone: str,
    ) -> AudienceEngagement:
        """Every contact matching `audience` (a predicate over contacts, as the ledger
        is made from), with their engagement since `since`; one row per contact and
        hour, and one row with no hour for contacts without any."""
        zone = _zone(fallback_zone).label("zone")
        how = _hour_of_week(zone).label("how")
        query = (
            select(Contact.id, zone, how, func.count(Event.id))
            .select_from(Contact)
            .outerjoin(Event, _engagement(since))
            .outerjoin(_ZONES, _ZONES.c.name == Contact.timezone)
            .where(Contact.workspace_id == workspace_id, audience)
            .group_by(Contact.id, _ZONES.c.name, how)
        )
        zones: dict[uuid.UUID, str] = {}
        counts: dict[uuid.UUID, dict[int, float]] = defaultdict(dict)
        for contact_id, contact_zone, hour, n in await self.session.execute(query):
            zones[contact_id] = contact_zone
            if hour is not None:
                counts[contact_id][int(hour)] = float(n)
        return AudienceEngagement(zones, dict(counts))

    async def contact_history(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, since: datetime, fallback_zone: str
    ) -> ContactHistory | None:
        """One contact's zone, status, engagement by hour and the messages sent to them
        since `since` (opened / clicked by a person); None for no such contact."""
        zone = _zone(fallback_zone).label("zone")
        found = (
            await self.session.execute(
                select(zone, Contact.status)
                .select_from(Contact)
                .outerjoin(_ZONES, _ZONES.c.name == Contact.timezone)
                .where(Contact.workspace_id == workspace_id, Contact.id == contact_id)
            )
        ).one_or_none()
        if found is None:
            return None
        contact_zone, status = found
        how = _hour_of_week(literal(contact_zone, String)).label("how")
        counts = {
            int(h): float(n)
            for h, n in await self.session.execute(
                select(how, func.count())
                .select_from(Contact)
                .join(Event, _engagement(since))
                .where(Contact.workspace_id == workspace_id, Contact.id == contact_id)
                .group_by(how)
            )
        }
        messages = [
            MessageRow(sent_at, opened, clicked)
            for sent_at, opened, clicked in await self.session.execute(
                select(
                    Delivery.sent_at,
                    Delivery.first_human_open_at.is_not(None),
                    Delivery.first_human_click_at.is_not(None),
                )
                .where(
                    Delivery.workspace_id == workspace_id,
                    Delivery.contact_id == contact_id,
                    Delivery.sent_at >= since,
                )
                .order_by(Delivery.sent_at)
            )
            if sent_at is not None
        ]
        return ContactHistory(contact_zone, status, counts, messages)

    async def campaign(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign | None:
        return await self.session.get(Campaign, (workspace_id, campaign_id))
