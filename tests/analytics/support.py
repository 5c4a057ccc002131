"""A committed little world for the analytics consumer's tests: a workspace with an
owner, a template with a link table, a sending campaign, contacts on lists, and
deliveries already sent. Other connections (the consumer, a `maily analytics` process)
must see it, so it is committed in a fresh workspace and deleted afterwards."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.analytics.consumer import AnalyticsConsumer
from maily.analytics.stream import EventKind, TrackingEvent, append_events
from maily.config import Settings
from maily.delivery.transports.base import Transport
from maily.kit.db import AsyncSession, transaction
from maily.kit.db.base import new_uuid
from maily.models import (
    Campaign,
    Contact,
    Delivery,
    Event,
    ListMembership,
    MailingList,
    Membership,
    Template,
    TemplateVersion,
    User,
    Workspace,
)
from maily.models.analytics import CAMPAIGN_COUNTERS
from maily.tracking.links import link_table_id, store_link_table

LINKS = ["https://shop.example/spring", "https://shop.example/summer", "https://blog.example/"]
DOMAINS = ["gmail.com", "outlook.com", "example.org"]


async def wait_for(
    condition: Callable[[], Awaitable[bool]], timeout: float, describe: Callable[[], str]
) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds saying why."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {describe()}")
        await asyncio.sleep(0.05)  # polling a condition with a deadline


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass
class AnalyticsWorld:
    sessionmaker: async_sessionmaker[AsyncSession]
    workspace_id: uuid.UUID
    owner_email: str
    owner_id: uuid.UUID
    lists: dict[str, uuid.UUID] = field(default_factory=dict)
    campaigns: list[uuid.UUID] = field(default_factory=list)
    # delivery id -> (contact id, email)
    deliveries: dict[uuid.UUID, tuple[uuid.UUID, str]] = field(default_factory=dict)

    async def campaign(
        self,
        recipients: int,
        *,
        sent_at: datetime | None = None,
        status: str = "sending",
        variants: Sequence[str] = (),
        name: str = "Spring sale",
    ) -> tuple[uuid.UUID, list[uuid.UUID]]:
        """A campaign whose `recipients` deliveries were sent at `sent_at` (an hour ago
        by default), addressed round-robin to DOMAINS, split between `variants`."""
        sent_at = sent_at or datetime.now(UTC) - timedelta(hours=1)
        async with transaction(self.sessionmaker) as session:
            template = Template(workspace_id=self.workspace_id, name="T", kind="html")
            session.add(template)
            await session.flush()
            session.add(
                TemplateVersion(
                    workspace_id=self.workspace_id,
                    template_id=template.id,
                    version=1,
                    source="<p>hi</p>",
                    links=LINKS,
                )
            )
            campaign = Campaign(
                workspace_id=self.workspace_id,
                name=name,
                subject="Hello",
                template_id=template.id,
                list_ids=[self.lists["news"]],
                status=status,
                started_at=sent_at,
            )
            session.add(campaign)
            await session.flush()
            tag = uuid.uuid4().hex[:8]
            contacts = [
                Contact(
                    workspace_id=self.workspace_id,
                    email=f"p{i}-{tag}@{DOMAINS[i % len(DOMAINS)]}",
                )
                for i in range(recipients)
            ]
            session.add_all(contacts)
            await session.flush()
            for contact in contacts:
                for list_name in ("news", "offers"):
                    session.add(
                        ListMembership(
                            workspace_id=self.workspace_id,
                            list_id=self.lists[list_name],
                            contact_id=contact.id,
                            status="subscribed",
                        )
                    )
            deliveries = [
                Delivery(
                    workspace_id=self.workspace_id,
                    id=new_uuid(),
                    campaign_id=campaign.id,
                    contact_id=contact.id,
                    email=contact.email,
                    variant=variants[i % len(variants)] if variants else None,
                    status="sent",
                    sent_at=sent_at,
                )
                for i, contact in enumerate(contacts)
            ]
            session.add_all(deliveries)
            await session.flush()
            for delivery in deliveries:
                self.deliveries[delivery.id] = (delivery.contact_id, delivery.email)
            self.campaigns.append(campaign.id)
            return campaign.id, [d.id for d in deliveries]

    async def link_table(self, campaign_id: uuid.UUID) -> uuid.UUID:
        """Store the link table of the campaign's template as it is now, the way the
        composer does when it prepares the campaign; returns the table's id."""
        async with transaction(self.sessionmaker) as session:
            template_id, version, links = (
                await session.execute(
                    text(
                        "SELECT t.id, t.current_version, tv.links FROM campaigns AS c"
                        " JOIN templates AS t ON t.workspace_id = c.workspace_id"
                        " AND t.id = c.template_id"
                        " JOIN template_versions AS tv ON tv.workspace_id = t.workspace_id"
                        " AND tv.template_id = t.id AND tv.version = t.current_version"
                        " WHERE c.workspace_id = :w AND c.id = :c"
                    ),
                    {"w": self.workspace_id, "c": campaign_id},
                )
            ).one()
            table_id = link_table_id(self.workspace_id, template_id, version, links)
            await store_link_table(
                session, self.workspace_id, table_id, template_id, version, links
            )
        return table_id

    async def change_template(self, campaign_id: uuid.UUID, links: Sequence[str]) -> None:
        """A new current version of the campaign's template, with other links."""
        async with transaction(self.sessionmaker) as session:
            template_id, version = (
                await session.execute(
                    text(
                        "SELECT t.id, t.current_version FROM campaigns AS c"
                        " JOIN templates AS t ON t.workspace_id = c.workspace_id"
                        " AND t.id = c.template_id WHERE c.workspace_id = :w AND c.id = :c"
                    ),
                    {"w": self.workspace_id, "c": campaign_id},
                )
            ).one()
            session.add(
                TemplateVersion(
                    workspace_id=self.workspace_id,
                    template_id=template_id,
                    version=version + 1,
                    source="<p>changed</p>",
                    links=list(links),
                )
            )
            await session.flush()
            await session.execute(
                text(
                    "UPDATE templates SET current_version = :v WHERE workspace_id = :w AND id = :t"
                ),
                {"w": self.workspace_id, "t": template_id, "v": version + 1},
            )

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with transaction(self.sessionmaker) as session:
            return (await session.execute(text(sql), {"w": self.workspace_id, **params})).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with transaction(self.sessionmaker) as session:
            return list(
                (await session.execute(text(sql), {"w": self.workspace_id, **params})).all()
            )

    async def totals(self, campaign_id: uuid.UUID) -> dict[str, int]:
        names = CAMPAIGN_COUNTERS
        sums = ", ".join(f"coalesce(sum({n}), 0)::bigint AS {n}" for n in names)
        async with transaction(self.sessionmaker) as session:
            row = (
                await session.execute(
                    text(
                        f"SELECT {sums} FROM campaign_stats"
                        " WHERE workspace_id = :w AND campaign_id = :c"
                    ),
                    {"w": self.workspace_id, "c": campaign_id},
                )
            ).one()
        return {n: int(getattr(row, n)) for n in names}

    async def snapshot(self) -> dict[str, Any]:
        """Everything the consumer writes, to compare before and after a replay."""
        queries = {
            "events": "SELECT stream_id, type, machine, link_index, variant FROM events"
            " WHERE workspace_id = :w ORDER BY stream_id",
            "stats": "SELECT * FROM campaign_stats WHERE workspace_id = :w"
            " ORDER BY campaign_id, hour, variant",
            "links": "SELECT * FROM campaign_link_stats WHERE workspace_id = :w"
            " ORDER BY campaign_id, variant, link_index",
            "domains": "SELECT * FROM campaign_domain_stats WHERE workspace_id = :w"
            " ORDER BY campaign_id, domain",
            "firsts": "SELECT id, first_open_at, first_human_open_at, first_click_at,"
            " first_human_click_at FROM deliveries WHERE workspace_id = :w ORDER BY id",
            "contacts": "SELECT id, status, last_open_at, last_click_at, opens_count,"
            " clicks_count FROM contacts WHERE workspace_id = :w ORDER BY id",
            "consent": "SELECT contact_id, list_id, action, channel, reason"
            " FROM consent_records WHERE workspace_id = :w ORDER BY contact_id, list_id",
            "memberships": "SELECT list_id, contact_id, status FROM list_memberships"
            " WHERE workspace_id = :w ORDER BY list_id, contact_id",
        }
        return {name: [tuple(r) for r in await self.rows(sql)] for name, sql in queries.items()}


async def new_world(sessionmaker: async_sessionmaker[AsyncSession]) -> AnalyticsWorld:
    tag = uuid.uuid4().hex[:12]
    async with transaction(sessionmaker) as session:
        workspace = Workspace(
            name="Analytics", slug=f"analytics-{tag}", postal_address="1 Main St, Springfield"
        )
        owner = User(email=f"owner-{tag}@springfield.test", name="Owner", password_hash="x")
        session.add_all([workspace, owner])
        await session.flush()
        session.add(Membership(workspace_id=workspace.id, user_id=owner.id, role="owner"))
        lists = {}
        for name in ("news", "offers"):
            row = MailingList(workspace_id=workspace.id, name=name)
            session.add(row)
            await session.flush()
            lists[name] = row.id
        world = AnalyticsWorld(sessionmaker, workspace.id, owner.email, owner.id, lists)
    return world


async def drop_world(world: AnalyticsWorld) -> None:
    async with transaction(world.sessionmaker) as session:
        await session.execute(delete(Event).where(Event.workspace_id == world.workspace_id))
        await session.execute(delete(Workspace).where(Workspace.id == world.workspace_id))
        await session.execute(delete(User).where(User.id == world.owner_id))


def consumer(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
    *,
    name: str = "test-consumer",
    transport: Transport | None = None,
    **analytics: Any,
) -> AnalyticsConsumer:
    configured = settings.model_copy(
        update={"analytics": settings.analytics.model_copy(update=analytics)}
    )
    return AnalyticsConsumer(configured, sessionmaker, redis, name=name, transport=transport)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def caught_up(redis: Redis, stream: str) -> bool:
    """Whether group `analytics` has read every entry and acknowledged all it read."""
    info = await redis.xinfo_stream(stream)
    last = _text(info["last-generated-id"])
    for group in await redis.xinfo_groups(stream):
        fields = {_text(k): v for k, v in group.items()}
        if _text(fields["name"]) == "analytics":
            return _text(fields["last-delivered-id"]) == last and not int(fields["pending"])
    return False


async def drain(worker: AnalyticsConsumer, limit: int = 50) -> int:
    """Run the consumer's turns until it has read and acknowledged everything in the
    stream; returns the entries processed."""
    await worker.ensure_group()
    done = 0
    for _ in range(limit):
        report = await worker.step()
        if report is not None:
            done += report.entries
        if await caught_up(worker.redis, worker.stream):
            return done
    raise AssertionError("the consumer never caught up")


async def append(redis: Redis, stream: str, events: Sequence[TrackingEvent]) -> list[str]:
    return await append_events(redis, stream, events)


def open_event(delivery_id: uuid.UUID, at: datetime, **extra: Any) -> TrackingEvent:
    return TrackingEvent(EventKind.open, delivery_id, ms(at), **extra)


def click_event(delivery_id: uuid.UUID, at: datetime, link: int, **extra: Any) -> TrackingEvent:
    return TrackingEvent(EventKind.click, delivery_id, ms(at), link_index=link, **extra)
