"""Sending rate limits: token buckets in Redis, per transport and per workspace, shared by
every sender replica; mail over the limit is deferred, never dropped."""

from __future__ import annotations

from redis.asyncio import Redis

from maily.config import SenderSettings
from maily.delivery.sender import Sender
from maily.kit.ratelimit import RedisTokenBucket
from tests.campaigns.support import World


def limited_sender(world: World, redis: Redis, owner: str, **limits: float) -> Sender:
    return Sender(
        world.sessionmaker,
        world.composer,
        world.transport,
        # A lease of 0.4 s lets a batch wait at most 0.1 s for its tokens.
        SenderSettings(batch_size=10, lease_seconds=0.4, **limits),
        owner=owner,
        rand=lambda: 1.0,
        buckets=RedisTokenBucket(redis, "test-send-rate"),
    )


async def test_a_workspace_over_its_rate_is_deferred_not_dropped(
    world: World, redis: Redis
) -> None:
    names = [f"reader{n}" for n in range(10)]
    await world.add_contacts(names, lists=["news"])
    campaign_id = await world.campaign()
    # Two replicas share the workspace's bucket of 1 a second (a batch of 10 to start).
    first = limited_sender(world, redis, "sender-a", workspace_rate_per_second=1)
    second = limited_sender(world, redis, "sender-b", workspace_rate_per_second=1)

    assert (await first.run_batch()).outcomes == {"sent": 10}
    await world.execute(
        "UPDATE deliveries SET status = 'queued', send_after = now()"
        " WHERE workspace_id = :w AND campaign_id = :c",
        c=campaign_id,
    )
    # The bucket is empty and refills at 1/s: 10 more need ~10 s, past the 0.1 s the
    # lease allows, so the whole batch is deferred and the transport sees none of it.
    handed_before = len(world.transport.messages)
    report = await second.run_batch()
    assert report.outcomes == {"deferred": 10}
    assert len(world.transport.messages) == handed_before
    rows = await world.rows(campaign_id)
    assert {r.status for r in rows.values()} == {"deferred"}
    assert all("rate limit" in (r.last_detail or "") for r in rows.values())


async def test_without_limits_nothing_waits_or_is_deferred(world: World, redis: Redis) -> None:
    await world.add_contacts([f"reader{n}" for n in range(10)], lists=["news"])
    await world.campaign()
    report = await limited_sender(world, redis, "sender-a").run_batch()
    assert report.outcomes == {"sent": 10}
