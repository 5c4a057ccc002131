"""The sender's result write counts `sent` into the rollups; the deliverability guard
pauses a campaign at its complaint or bounce limit (not below), records why, says so
on the live channel and mails the workspace's owners."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.analytics.guard import GuardRules, judge
from maily.analytics.stream import BounceType, EventKind, TrackingEvent, live_channel
from maily.config import Settings
from maily.delivery.ledger import DeliveryStatus, RowResult
from maily.delivery.repository import DeliveryRepository
from maily.delivery.transports.outbox import OutboxTransport
from maily.kit.db import AsyncSession, transaction
from tests.analytics.support import (
    DOMAINS,
    AnalyticsWorld,
    append,
    consumer,
    drain,
    ms,
    wait_for,
)

STREAM = "maily:events"


async def send_through_the_ledger(world: AnalyticsWorld, deliveries: list[uuid.UUID]) -> None:
    """Record the deliveries as a sender would: leased by `sender-1`, then sent."""
    async with transaction(world.sessionmaker) as session:
        await session.execute(
            text(
                "UPDATE deliveries SET status = 'leased', lease_owner = 'sender-1', sent_at = NULL"
                " WHERE workspace_id = :w AND id = ANY(:ids)"
            ),
            {"w": world.workspace_id, "ids": deliveries},
        )
    results = [
        RowResult(
            workspace_id=world.workspace_id,
            id=delivery_id,
            status=DeliveryStatus.sent,
            send_after=None,
            code=250,
            detail="ok",
            provider_message_id=None,
            sent=True,
        )
        for delivery_id in deliveries
    ]
    async with transaction(world.sessionmaker) as session:
        await DeliveryRepository(session).record("sender-1", results)
    # A second write of the same results (a sender whose lease was lost) counts nothing.
    async with transaction(world.sessionmaker) as session:
        assert await DeliveryRepository(session).record("sender-1", results) == []


async def test_the_senders_result_write_counts_sent_by_hour_variant_and_domain(
    world: AnalyticsWorld,
) -> None:
    campaign_id, deliveries = await world.campaign(9, variants=("A", "B", "C"))
    await send_through_the_ledger(world, deliveries)
    totals = await world.totals(campaign_id)
    assert totals["sent"] == 9
    by_variant = await world.rows(
        "SELECT variant, sum(sent) FROM campaign_stats WHERE workspace_id = :w"
        " GROUP BY variant ORDER BY variant"
    )
    assert by_variant == [("A", 3), ("B", 3), ("C", 3)]
    hours = await world.rows(
        "SELECT DISTINCT s.hour, d.sent_at FROM campaign_stats s JOIN deliveries d"
        " ON d.workspace_id = s.workspace_id AND d.campaign_id = s.campaign_id"
        " WHERE s.workspace_id = :w"
    )
    for hour, sent_at in hours:
        assert hour == sent_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    domains = await world.rows(
        "SELECT domain, sent FROM campaign_domain_stats WHERE workspace_id = :w ORDER BY domain"
    )
    assert domains == sorted((domain, 3) for domain in DOMAINS)


def test_the_guard_judges_rates_at_their_limits() -> None:
    rules = GuardRules()  # the defaults: complaints 0.3%, hard bounces 5%, 500 sent
    assert judge({"sent": 1000, "complaints": 2}, rules) is None
    verdict = judge({"sent": 1000, "complaints": 3}, rules)
    assert verdict is not None
    assert verdict.rate == "complaint"
    assert judge({"sent": 1000, "hard_bounces": 49}, rules) is None
    bounced = judge({"sent": 1000, "hard_bounces": 50}, rules)
    assert bounced is not None
    assert bounced.rate == "bounce"
    # Too few sent to judge, however bad it looks.
    assert judge({"sent": 499, "complaints": 100}, rules) is None


async def test_the_guard_pauses_at_the_complaint_limit_and_tells_the_owner(
    world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    campaign_id, deliveries = await world.campaign(100)
    await send_through_the_ledger(world, deliveries)
    outbox = OutboxTransport(sessionmaker)
    worker = consumer(
        settings,
        sessionmaker,
        redis,
        block_ms=50,
        transport=outbox,
        complaint_rate_threshold=0.03,
        guard_min_sent=100,
    )
    pubsub = redis.pubsub()
    await pubsub.subscribe(live_channel(settings.analytics.live_channel_prefix, world.workspace_id))
    at = datetime.now(UTC) - timedelta(minutes=1)

    def complaint(delivery_id: uuid.UUID) -> TrackingEvent:
        return TrackingEvent(
            EventKind.complaint, delivery_id, ms(at), bounce_type=BounceType.complaint
        )

    # 2 of 100: below the 3% limit (and a repeated report of one complaint counts once).
    await append(redis, STREAM, [complaint(deliveries[0]), complaint(deliveries[1])])
    await append(redis, STREAM, [complaint(deliveries[1])])
    await drain(worker)
    assert await world.scalar("SELECT status FROM campaigns WHERE id = :c", c=campaign_id) == (
        "sending"
    )
    assert (await world.totals(campaign_id))["complaints"] == 2

    # The third reaches it.
    await append(redis, STREAM, [complaint(deliveries[2])])
    await drain(worker)
    assert await world.scalar("SELECT status FROM campaigns WHERE id = :c", c=campaign_id) == (
        "paused"
    )
    audit = await world.rows(
        "SELECT actor, action, details FROM audit_log WHERE workspace_id = :w AND target_id = :c",
        c=campaign_id,
    )
    assert len(audit) == 1
    actor, action, details = audit[0]
    assert (actor, action, details["rate"], details["sent"]) == (
        "system",
        "campaign.auto_paused",
        "complaint",
        100,
    )
    assert "complaint rate 3.00%" in details["reason"]

    notices = await world.rows(
        "SELECT recipient, subject, raw FROM outbox_messages WHERE workspace_id = :w"
    )
    assert [(r.recipient, r.subject) for r in notices] == [
        (world.owner_email, "Campaign paused: Spring sale")
    ]
    assert b"complaint rate 3.00%" in notices[0].raw

    states: list[dict[str, str]] = []

    async def announced() -> bool:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            states.append(json.loads(message["data"]))
        return any(m["type"] == "campaign.state" for m in states)

    await wait_for(announced, 10, lambda: f"messages: {states}")
    await pubsub.aclose()
    state = next(m for m in states if m["type"] == "campaign.state")
    assert state["campaign_id"] == str(campaign_id)
    assert state["state"] == "paused"
    assert "complaint rate" in state["reason"]

    # A further complaint finds it paused already: no second pause, entry or notice.
    await append(redis, STREAM, [complaint(deliveries[3])])
    await drain(worker)
    assert (
        await world.scalar(
            "SELECT count(*) FROM audit_log WHERE workspace_id = :w AND target_id = :c",
            c=campaign_id,
        )
        == 1
    )
    assert await world.scalar("SELECT count(*) FROM outbox_messages WHERE workspace_id = :w") == 1
    await outbox.aclose()


async def test_the_guard_pauses_at_the_hard_bounce_limit_only(
    world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    campaign_id, deliveries = await world.campaign(40)
    await send_through_the_ledger(world, deliveries)
    worker = consumer(
        settings, sessionmaker, redis, block_ms=50, bounce_rate_threshold=0.1, guard_min_sent=40
    )
    at = ms(datetime.now(UTC))
    soft = [
        TrackingEvent(EventKind.bounce, d, at, bounce_type=BounceType.soft) for d in deliveries[:10]
    ]
    hard = [
        TrackingEvent(EventKind.bounce, d, at, bounce_type=BounceType.hard)
        for d in deliveries[10:13]
    ]
    # Soft bounces don't count toward the limit; 3 hard of 40 is 7.5%, under 10%.
    await append(redis, STREAM, soft + hard)
    await drain(worker)
    assert await world.scalar("SELECT status FROM campaigns WHERE id = :c", c=campaign_id) == (
        "sending"
    )
    await append(
        redis,
        STREAM,
        [TrackingEvent(EventKind.bounce, deliveries[13], at, bounce_type=BounceType.hard)],
    )
    await drain(worker)
    assert await world.scalar("SELECT status FROM campaigns WHERE id = :c", c=campaign_id) == (
        "paused"
    )
    assert (
        await world.scalar(
            "SELECT details ->> 'rate' FROM audit_log WHERE workspace_id = :w AND target_id = :c",
            c=campaign_id,
        )
        == "bounce"
    )
