"""Backlog gauges against a real ledger in PostgreSQL and a real stream in Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.kit.db import transaction
from maily.ops.backlog import BacklogSampler
from tests.campaigns.support import World


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_the_ledger_backlog_counts_due_scheduled_leased_and_expired(
    world: World, engine: AsyncEngine
) -> None:
    sampler = BacklogSampler(engine)
    # The figures span every workspace of the database: compare before and after.
    before = (await sampler.sample()).ledger
    await world.add_contacts([f"c{i}" for i in range(6)], lists=["news"])
    campaign_id = await world.campaign()
    after = await sampler.sample()
    assert after.ledger["due"] - before["due"] == 6
    assert after.oldest_due_seconds >= 0

    async with transaction(world.sessionmaker) as session:
        # Two rows wait for a later time; a sender leases two of the rest.
        await session.execute(
            text(
                "UPDATE deliveries SET send_after = now() + interval '1 hour' WHERE id IN "
                "(SELECT id FROM deliveries WHERE workspace_id = :w AND campaign_id = :c LIMIT 2)"
            ),
            {"w": world.workspace_id, "c": campaign_id},
        )
    lease = await world.sender(batch_size=2).lease()
    assert len(lease.rows) == 2
    sample = await sampler.sample()
    assert sample.ledger["due"] - before["due"] == 2
    assert sample.ledger["scheduled"] - before["scheduled"] == 2
    assert sample.ledger["leased"] - before["leased"] == 2
    assert gauge("maily_ledger_backlog", state="leased") == sample.ledger["leased"]

    # The sender stops renewing: its lease runs out.
    async with transaction(world.sessionmaker) as session:
        await session.execute(
            text(
                "UPDATE deliveries SET lease_expires_at = now() - interval '1 second' "
                "WHERE workspace_id = :w AND campaign_id = :c AND status = 'leased'"
            ),
            {"w": world.workspace_id, "c": campaign_id},
        )
    sample = await sampler.sample()
    assert sample.ledger["expired_lease"] - before["expired_lease"] == 2
    assert gauge("maily_ledger_backlog", state="expired_lease") == sample.ledger["expired_lease"]


async def test_stream_lag_pending_and_queue_depth(engine: AsyncEngine, redis: Redis) -> None:
    stream = f"test:events:{uuid.uuid4().hex[:8]}"
    for n in range(5):
        await redis.xadd(stream, {"k": "open", "n": str(n)})
    await redis.xgroup_create(stream, "analytics", id="0")
    await redis.xgroup_create(stream, "webhooks", id="0")
    # analytics reads three and acknowledges one; webhooks reads nothing yet.
    read = await redis.xreadgroup("analytics", "a-1", {stream: ">"}, count=3)
    first_id = read[0][1][0][0]
    await redis.xack(stream, "analytics", first_id)

    async def depth() -> int:
        return 7

    sampler = BacklogSampler(
        engine, redis=redis, stream_keys=[stream], queue_name="maily", queue_depth=depth
    )
    sample = await sampler.sample()
    assert sample.stream_length == 5
    assert sample.groups == {"analytics": (2, 2), "webhooks": (5, 0)}
    assert gauge("maily_stream_consumer_lag", stream=stream, group="analytics") == 2
    assert gauge("maily_stream_pending", stream=stream, group="analytics") == 2
    assert gauge("maily_stream_consumer_lag", stream=stream, group="webhooks") == 5
    assert gauge("maily_stream_length", stream=stream) == 5
    assert gauge("maily_queue_depth", queue="maily") == 7


async def test_a_missing_stream_has_no_groups(engine: AsyncEngine, redis: Redis) -> None:
    sampler = BacklogSampler(engine, redis=redis, stream_keys=["test:no-such-stream"])
    sample = await sampler.sample()
    assert sample.groups == {}
    assert sample.stream_length == 0


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for `condition` to hold, within a deadline (the sampler runs every 50 ms)."""
    deadline = asyncio.get_running_loop().time() + 10
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.01)


async def test_only_the_active_instance_exports_figures(engine: AsyncEngine) -> None:
    sampler = BacklogSampler(engine)
    BacklogSampler.clear()
    active = True
    stop = asyncio.Event()
    running = asyncio.create_task(sampler.run(stop, lambda: active, interval=0.05))
    await until(
        lambda: gauge("maily_ledger_backlog", state="due") is not None, "the leader sampled nothing"
    )

    # Leadership moves elsewhere: this instance drops its series on the next round.
    active = False
    await until(
        lambda: gauge("maily_ledger_backlog", state="due") is None, "the standby kept its figures"
    )
    assert gauge("maily_ledger_oldest_due_seconds") == 0
    stop.set()
    await asyncio.wait_for(running, timeout=10)
