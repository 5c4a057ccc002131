"""The scheduler: one active instance by advisory lock, due campaigns, A/B winners, finishing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.campaigns.progress import channel
from maily.campaigns.scheduler import Scheduler, run_scheduler
from maily.config import SchedulerSettings, Settings
from maily.kit.db import create_engine, create_sessionmaker, transaction
from maily.models import Campaign
from tests.campaigns.support import World


@pytest.fixture
async def schedulers(settings: Settings) -> AsyncIterator[list[Scheduler]]:
    """Two schedulers, each with its own engine, as two processes would have."""
    assert settings.database.url
    engines = [create_engine(settings.database.url, pool_size=2) for _ in range(2)]
    made = [
        Scheduler(e, create_sessionmaker(e), SchedulerSettings(interval_seconds=0.05))
        for e in engines
    ]
    yield made
    for scheduler, engine in zip(made, engines, strict=True):
        await scheduler.release()
        await engine.dispose()


async def scheduled(world: World, *, at: datetime | None = None, **values: object) -> uuid.UUID:
    async with transaction(world.sessionmaker) as session:
        campaign = Campaign(
            workspace_id=world.workspace_id,
            name="Scheduled",
            subject="Hello",
            template_id=world.composer.template(),
            sender_id=uuid.uuid4(),
            list_ids=[world.lists["news"]],
            status="scheduled",
            scheduled_at=at or datetime.now(UTC) - timedelta(seconds=1),
            **values,
        )
        session.add(campaign)
        await session.flush()
        return campaign.id


async def test_only_the_lock_holder_acts_and_another_takes_over_when_it_dies(
    world: World, schedulers: list[Scheduler], engine: AsyncEngine
) -> None:
    first, second = schedulers
    await world.add_contacts(["ann"], lists=["news"])
    one = await scheduled(world)

    report = await first.tick()
    assert report is not None
    assert report.started == [one]
    assert await second.tick() is None  # another instance is active
    assert (first.is_leader, second.is_leader) == (True, False)

    two = await scheduled(world)
    assert await second.tick() is None
    assert await world.status_of(two) == "scheduled"

    # The holder dies: its connection goes, and the lock with it.
    pid = await first.lock_backend_pid()
    async with engine.connect() as conn:
        # With a timeout, pg_terminate_backend waits until the backend has exited (and
        # its advisory lock is released); without one it only sends the signal.
        await conn.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})
        await conn.commit()
    report = await second.tick()
    assert report is not None
    assert report.started == [two]
    assert second.is_leader
    # The old holder notices it lost the lock and stays passive.
    assert await first.tick() is None
    assert not first.is_leader


async def test_a_released_lock_is_taken_by_the_next_tick(
    world: World, schedulers: list[Scheduler]
) -> None:
    first, second = schedulers
    assert await first.tick() is not None
    await first.release()
    assert await second.tick() is not None
    assert await first.tick() is None


async def test_future_campaigns_wait_and_due_ones_start(
    world: World, schedulers: list[Scheduler]
) -> None:
    await world.add_contacts(["ann", "bob"], lists=["news"])
    later = await scheduled(world, at=datetime.now(UTC) + timedelta(hours=1))
    now = await scheduled(world)

    report = await schedulers[0].tick()

    assert report is not None
    assert report.started == [now]
    assert await world.status_of(later) == "scheduled"
    assert await world.status_of(now) == "sending"
    assert set(await world.rows(now)) == {"ann", "bob"}


async def test_a_campaign_is_sent_when_every_delivery_is_final(
    world: World, schedulers: list[Scheduler]
) -> None:
    await world.add_contacts(["ann", "bob"], lists=["news"])
    campaign_id = await world.campaign()
    scheduler = schedulers[0]

    report = await scheduler.tick()
    assert report is not None
    assert report.finished == []
    await world.drain(world.sender())
    report = await scheduler.tick()

    assert report is not None
    assert report.finished == [campaign_id]
    assert await world.status_of(campaign_id) == "sent"


async def test_the_ab_winner_is_picked_by_the_metric_and_gets_the_rest(
    world: World, schedulers: list[Scheduler]
) -> None:
    names = [f"c{i:02}" for i in range(40)]
    await world.add_contacts(names, lists=["news"])
    ab_test = {
        "variants": [
            {"name": "A", "subject": "Plain", "template_id": None},
            {"name": "B", "subject": "Exciting", "template_id": None},
        ],
        "test_percent": 50,
        "metric": "clicks",
        "wait_minutes": 30,
    }
    campaign_id = await world.campaign(ab_test=ab_test)
    scheduler = schedulers[0]
    await world.drain(world.sender())
    assert Counter(m.subject for m in world.transport.messages) == {"Plain": 10, "Exciting": 10}
    rows = await world.rows(campaign_id)
    by_variant: dict[str | None, list[str]] = {}
    for name, row in rows.items():
        by_variant.setdefault(row.variant, []).append(name)
    # B gets more clicks; A more opens (which this test does not count), and more
    # clicks by a link scanner (which no test counts).
    for name in by_variant["B"][:4]:
        await world.add_event(name, campaign_id, "click")
    for name in by_variant["A"][:2]:
        await world.add_event(name, campaign_id, "click")
    for name in by_variant["A"][2:]:
        await world.add_event(name, campaign_id, "click", machine="scanner")
    for name in by_variant["A"]:
        await world.add_event(name, campaign_id, "open")

    # Not yet: the waiting time is not over.
    report = await scheduler.tick()
    assert report is not None
    assert report.decided == {}
    assert await world.status_of(campaign_id) == "sending"
    await world.execute(
        "UPDATE campaigns SET ab_decide_at = now() - interval '1 second' WHERE workspace_id = :w"
    )
    report = await scheduler.tick()
    assert report is not None
    assert report.decided == {campaign_id: "B"}

    await world.drain(world.sender())
    assert Counter(m.subject for m in world.transport.messages) == {"Plain": 10, "Exciting": 30}
    report = await scheduler.tick()
    assert report is not None
    assert report.finished == [campaign_id]
    held = [r for r in (await world.rows(campaign_id)).values() if r.variant is None]
    assert len(held) == 20
    assert {r.status for r in held} == {"sent"}


async def test_the_loop_runs_ticks_until_stopped(world: World, schedulers: list[Scheduler]) -> None:
    await world.add_contacts(["ann"], lists=["news"])
    campaign_id = await scheduled(world)
    stop = asyncio.Event()
    scheduler = schedulers[0]
    original = scheduler.tick
    started = asyncio.Event()

    async def tick() -> object:
        report = await original()
        if report is not None and report.started:
            started.set()
        return report

    scheduler.tick = tick  # type: ignore[method-assign]
    running = asyncio.create_task(scheduler.run(stop))
    await asyncio.wait_for(started.wait(), timeout=30)
    stop.set()
    await asyncio.wait_for(running, timeout=30)

    assert await world.status_of(campaign_id) == "sending"
    assert not scheduler.is_leader  # the lock is given up on the way out


async def test_the_scheduler_role_starts_due_campaigns_and_announces_it(
    world: World, settings: Settings, redis: Redis
) -> None:
    await world.add_contacts(["ann"], lists=["news"])
    campaign_id = await scheduled(world)
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel(world.workspace_id))
    await pubsub.get_message(timeout=5)  # the subscribe confirmation
    stop = asyncio.Event()
    role_settings = settings.model_copy(
        update={"scheduler": SchedulerSettings(interval_seconds=0.05)}
    )
    running = asyncio.create_task(run_scheduler(role_settings, stop))
    try:
        message = None
        while message is None or message["type"] != "message":
            message = await pubsub.get_message(timeout=30)
            assert message is not None, "the scheduler announced nothing"
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        await pubsub.aclose()

    assert json.loads(message["data"]) == {
        "type": "campaign.state",
        "campaign_id": str(campaign_id),
        "state": "sending",
        "previous": None,
        "reason": None,
    }
    assert await world.status_of(campaign_id) == "sending"
    assert set(await world.rows(campaign_id)) == {"ann"}
