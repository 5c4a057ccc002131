"""Unsubscribe events go through the consent rules: the contact or the named lists
change, a consent record keeps the channel and reason, and a replay adds nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.analytics.stream import EventKind, TrackingEvent, UnsubscribeChannel, encode_event
from maily.config import Settings
from maily.kit.db import AsyncSession
from tests.analytics.support import AnalyticsWorld, append, consumer, drain, ms

STREAM = "maily:events"


async def test_unsubscribe_events_change_consent_on_the_record(
    world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    campaign_id, (everything, partial, by_mail) = await world.campaign(3)
    at = ms(datetime.now(UTC))
    events = [
        TrackingEvent(
            EventKind.unsubscribe,
            everything,
            at,
            channel=UnsubscribeChannel.one_click,
            ip="198.51.100.4",
            user_agent="Gmail one-click",
        ),
        TrackingEvent(
            EventKind.unsubscribe,
            partial,
            at,
            channel=UnsubscribeChannel.preferences,
            reason="too many offers",
            lists=(world.lists["offers"],),
        ),
        TrackingEvent(EventKind.unsubscribe, by_mail, at, channel=UnsubscribeChannel.mailto),
        # The same person clicking again changes nothing and is not counted again.
        TrackingEvent(EventKind.unsubscribe, everything, at + 1, channel=UnsubscribeChannel.link),
    ]
    ids = await append(redis, STREAM, events)
    worker = consumer(settings, sessionmaker, redis, block_ms=50)
    await drain(worker)

    contact = {d: world.deliveries[d][0] for d in (everything, partial, by_mail)}
    statuses = dict(await world.rows("SELECT id, status FROM contacts WHERE workspace_id = :w"))
    assert statuses[contact[everything]] == "unsubscribed"
    assert statuses[contact[by_mail]] == "unsubscribed"
    assert statuses[contact[partial]] == "subscribed"
    memberships = {
        (row.contact_id, row.list_id): row.status
        for row in await world.rows(
            "SELECT contact_id, list_id, status FROM list_memberships WHERE workspace_id = :w"
        )
    }
    assert memberships[(contact[partial], world.lists["offers"])] == "unsubscribed"
    assert memberships[(contact[partial], world.lists["news"])] == "subscribed"
    assert memberships[(contact[everything], world.lists["news"])] == "unsubscribed"

    records = {
        row.contact_id: row
        for row in await world.rows(
            "SELECT contact_id, list_id, action, source, channel, reason, host(ip) AS ip,"
            " user_agent FROM consent_records WHERE workspace_id = :w"
        )
    }
    assert len(records) == 3
    first = records[contact[everything]]
    assert (first.action, first.source, first.channel, first.list_id) == (
        "unsubscribe",
        "email",
        "one_click",
        None,
    )
    assert (first.ip, first.user_agent) == ("198.51.100.4", "Gmail one-click")
    second = records[contact[partial]]
    assert (second.channel, second.reason, second.list_id) == (
        "preference_center",
        "too many offers",
        world.lists["offers"],
    )
    assert records[contact[by_mail]].channel == "mailto"
    assert (await world.totals(campaign_id))["unsubscribes"] == 3
    assert (
        await world.scalar(
            "SELECT count(*) FROM events WHERE workspace_id = :w AND type = 'unsubscribe'"
        )
        == 4
    )

    # Replayed: nothing new on the record.
    before = await world.snapshot()
    report = await worker.process([(i, encode_event(e)) for i, e in zip(ids, events, strict=True)])
    assert report.stored == 0
    assert await world.snapshot() == before


async def test_an_unsubscribe_naming_another_workspaces_list_changes_nothing(
    world: AnalyticsWorld,
    other_world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    _, (mine,) = await world.campaign(1)
    await other_world.campaign(1)
    before = await other_world.snapshot()
    foreign: tuple[uuid.UUID, ...] = (other_world.lists["news"],)
    await append(
        redis,
        STREAM,
        [TrackingEvent(EventKind.unsubscribe, mine, ms(datetime.now(UTC)), lists=foreign)],
    )
    await drain(consumer(settings, sessionmaker, redis, block_ms=50))
    assert await other_world.snapshot() == before
    assert await world.scalar("SELECT count(*) FROM consent_records WHERE workspace_id = :w") == 0
