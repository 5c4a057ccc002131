"""Token buckets: the in-process one, and the Redis one shared by replicas."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from maily.kit.ratelimit import RedisTokenBucket, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_starts_full_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)

    assert [bucket.try_acquire() for _ in range(6)] == [True] * 5 + [False]
    clock.now += 0.25  # 2.5 tokens
    assert bucket.try_acquire(2)
    assert not bucket.try_acquire(1)
    clock.now += 10  # never more than the capacity
    assert bucket.tokens == 5


def test_reservations_queue_behind_each_other() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=4, capacity=2, clock=clock)

    waits = [bucket.reserve() for _ in range(6)]

    # Two from the burst, then one every quarter second, in order.
    assert waits == pytest.approx([0, 0, 0.25, 0.5, 0.75, 1.0])
    with pytest.raises(ValueError, match="more tokens"):
        bucket.reserve(3)


async def test_acquire_waits_for_its_tokens() -> None:
    bucket = TokenBucket(rate=50, capacity=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(6):
        await bucket.acquire()
    # One at once, then five more at 50 a second.
    assert loop.time() - started >= 0.1 - 0.005


@pytest.fixture
async def buckets(redis_url: str) -> AsyncIterator[RedisTokenBucket]:
    client = Redis.from_url(redis_url)
    prefix = f"test:bucket:{secrets.token_hex(6)}"
    yield RedisTokenBucket(client, prefix)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_redis_bucket_grants_the_burst_then_schedules(buckets: RedisTokenBucket) -> None:
    waits = [await buckets.reserve("transport:smtp", 1, rate=1, capacity=5) for _ in range(8)]

    assert waits[:5] == [0.0] * 5
    # Then one a second, queued behind each other (the calls' own time is credited,
    # hence the tolerance).
    assert waits[5:] == pytest.approx([1.0, 2.0, 3.0], abs=0.25)
    assert waits[5] < waits[6] < waits[7]


async def test_redis_bucket_refuses_past_max_wait_without_taking(
    buckets: RedisTokenBucket,
) -> None:
    assert await buckets.reserve("ws:1", 10, rate=10, capacity=10) == 0.0
    # 10 more tokens would take a second; allowed to wait half of that: refused.
    assert await buckets.reserve("ws:1", 10, rate=10, capacity=10, max_wait=0.5) is None
    # The refusal took nothing: a small request still gets its short wait.
    wait = await buckets.reserve("ws:1", 1, rate=10, capacity=10, max_wait=0.5)
    assert wait is not None
    assert wait <= 0.1
    assert await buckets.acquire("ws:1", 10, rate=10, capacity=10, max_wait=0.1) is False


async def test_redis_buckets_are_per_key_and_shared(
    buckets: RedisTokenBucket, redis_url: str
) -> None:
    other_replica = RedisTokenBucket(Redis.from_url(redis_url), buckets._prefix)
    assert await buckets.reserve("ws:a", 3, rate=1, capacity=3) == 0.0
    # Another replica sees the same bucket empty...
    wait = await other_replica.reserve("ws:a", 1, rate=1, capacity=3)
    assert wait is not None
    assert wait > 0.9
    # ...while another workspace's bucket is untouched.
    assert await other_replica.reserve("ws:b", 3, rate=1, capacity=3) == 0.0
    await other_replica._redis.aclose()


async def test_redis_bucket_key_expires_once_full_again(
    buckets: RedisTokenBucket, redis_url: str
) -> None:
    await buckets.reserve("idle", 1, rate=1, capacity=100)
    client = Redis.from_url(redis_url)
    ttl = await client.pttl(f"{buckets._prefix}:idle")
    await client.aclose()
    # One token short refills in a second.
    assert 900 < ttl <= 1000


async def test_redis_bucket_rejects_nonsense(buckets: RedisTokenBucket) -> None:
    with pytest.raises(ValueError, match="more tokens"):
        await buckets.reserve("k", 5, rate=1, capacity=2)
    with pytest.raises(ValueError, match="rate"):
        await buckets.reserve("k", 1, rate=0)
    with pytest.raises(ValueError, match="tokens"):
        await buckets.reserve("k", 0, rate=1)
