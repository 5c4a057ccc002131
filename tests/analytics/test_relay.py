"""Held events (bounces, complaints, provider reports) reach the stream exactly once:
after their commit, or, when Redis failed then, from the scheduler's sweep."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from maily.analytics.relay import MARKER_PREFIX, EventRelay, HeldEvents, hold_events
from maily.analytics.stream import BounceType, EventKind, TrackingEvent, decode_event
from maily.campaigns.scheduler import Scheduler
from maily.config import SchedulerSettings
from maily.kit.db import AsyncSession, create_sessionmaker, transaction
from maily.models import PendingEvent

STREAM = "maily:test:relay"
UNREACHABLE = "redis://127.0.0.1:1/0"


def bounce(n: int) -> TrackingEvent:
    return TrackingEvent(
        kind=EventKind.bounce,
        delivery_id=uuid.UUID(int=n + 1),
        at_ms=1_764_633_600_000 + n,
        bounce_type=BounceType.hard,
        code="5.1.1",
        source="inbound",
    )


@pytest.fixture
async def sessionmaker(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    made = create_sessionmaker(engine)
    yield made
    async with transaction(made) as session:
        await session.execute(PendingEvent.__table__.delete())


async def held(sessionmaker: async_sessionmaker[AsyncSession], count: int) -> HeldEvents:
    async with transaction(sessionmaker) as session:
        return await hold_events(session, [bounce(n) for n in range(count)])


async def held_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(PendingEvent)) or 0)


async def stream(redis: Redis) -> list[TrackingEvent]:
    return [decode_event(fields) for _, fields in await redis.xrange(STREAM)]


async def test_held_events_are_appended_once_and_forgotten(
    sessionmaker: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    events = await held(sessionmaker, 3)
    relay = EventRelay(sessionmaker, redis, STREAM)
    assert await relay.relay_committed(events, source="test") is True
    assert await stream(redis) == [bounce(n) for n in range(3)]
    assert await held_rows(sessionmaker) == 0
    assert await relay.relay(events.ids) == (0, 0)
    assert len(await stream(redis)) == 3


async def test_an_event_appended_but_not_forgotten_is_not_appended_again(
    sessionmaker: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    # A relay that appended and then lost PostgreSQL before deleting the rows: the
    # rows come back, but the markers set with the append say they are in the stream.
    events = await held(sessionmaker, 2)
    relay = EventRelay(sessionmaker, redis, STREAM)
    async with sessionmaker() as session:
        rows = (await session.execute(select(PendingEvent.id, PendingEvent.fields))).all()
    replies = await relay._append(rows)
    assert all(reply is not None for reply in replies)
    assert await held_rows(sessionmaker) == 2
    assert await relay.relay(events.ids) == (2, 0)
    assert await held_rows(sessionmaker) == 0
    assert await stream(redis) == [bounce(0), bounce(1)]
    assert await redis.ttl(MARKER_PREFIX + events.ids[0].hex) > 24 * 3600


async def test_events_redis_did_not_take_are_held_until_the_scheduler_sweeps(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    events = await held(sessionmaker, 2)
    down = Redis.from_url(UNREACHABLE, socket_connect_timeout=1)
    counted = {"kind": "bounce"}
    before = REGISTRY.get_sample_value("maily_events_not_appended_total", counted) or 0
    try:
        assert await EventRelay(sessionmaker, down, STREAM).relay_committed(events) is False
    finally:
        await down.aclose()
    assert REGISTRY.get_sample_value("maily_events_not_appended_total", counted) == before + 2
    assert await held_rows(sessionmaker) == 2
    assert await stream(redis) == []

    scheduler = Scheduler(
        engine,
        sessionmaker,
        SchedulerSettings(),
        relay=EventRelay(sessionmaker, redis, STREAM),
    )
    try:
        # Young rows are the recorder's own relay's to append; the sweep leaves them.
        report = await scheduler.tick()
        assert report is not None
        assert report.relayed_events == 0
        assert REGISTRY.get_sample_value("maily_events_held") == 2
        async with transaction(sessionmaker) as session:
            await session.execute(
                update(PendingEvent).values(
                    created_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 1)
                )
            )
        report = await scheduler.tick()
        assert report is not None
        assert report.relayed_events == 2
    finally:
        await scheduler.release()
    assert await stream(redis) == [bounce(0), bounce(1)]
    assert await held_rows(sessionmaker) == 0
    assert REGISTRY.get_sample_value("maily_events_held") == 0
