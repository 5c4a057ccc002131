"""RateLimiter against a real Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from maily.kit.ratelimit import RateLimiter


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"test:ratelimit:{secrets.token_hex(8)}"


@pytest.fixture
async def limiter(redis: Redis, prefix: str) -> AsyncIterator[RateLimiter]:
    yield RateLimiter(redis, prefix)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)


async def test_allows_up_to_the_limit_then_refuses(limiter: RateLimiter) -> None:
    results = [await limiter.hit("sign-in:a@example.com", 10, 60) for _ in range(10)]

    assert all(result.allowed for result in results)
    assert [result.remaining for result in results] == list(range(9, -1, -1))
    assert all(result.retry_after_seconds == 0 for result in results)

    refused = await limiter.hit("sign-in:a@example.com", 10, 60)
    assert not refused.allowed
    assert refused.remaining == 0
    assert refused.limit == 10
    # One more hit is earned every 60 / 10 = 6 seconds; the ten hits above took
    # far less than a second, so the wait rounds up to exactly 6.
    assert refused.retry_after_seconds == 6
    # The whole budget comes back one window after the burst began.
    assert refused.reset_after_seconds == 60


async def test_refused_hits_are_not_counted(limiter: RateLimiter) -> None:
    for _ in range(3):
        await limiter.hit("k", 3, 30)
    refusals = [await limiter.hit("k", 3, 30) for _ in range(5)]

    assert not any(result.allowed for result in refusals)
    # Hammering does not push the next allowed moment further away.
    assert {result.retry_after_seconds for result in refusals} == {10}


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    for _ in range(2):
        assert (await limiter.hit("first", 2, 60)).allowed
    assert not (await limiter.hit("first", 2, 60)).allowed

    second = await limiter.hit("second", 2, 60)
    assert second.allowed
    assert second.remaining == 1


async def test_prefixes_are_independent(redis: Redis, limiter: RateLimiter) -> None:
    prefix = f"test:ratelimit:{secrets.token_hex(8)}"
    other = RateLimiter(redis, prefix)
    try:
        assert (await limiter.hit("same", 1, 60)).allowed
        assert (await other.hit("same", 1, 60)).allowed
        assert not (await limiter.hit("same", 1, 60)).allowed
    finally:
        await other.reset("same")


async def test_reset_clears_the_counter(limiter: RateLimiter) -> None:
    for _ in range(3):
        await limiter.hit("sign-in", 3, 300)
    assert not (await limiter.hit("sign-in", 3, 300)).allowed

    await limiter.reset("sign-in")

    result = await limiter.hit("sign-in", 3, 300)
    assert result.allowed
    assert result.remaining == 2


async def test_concurrent_hits_allow_exactly_the_limit(limiter: RateLimiter) -> None:
    results = await asyncio.gather(*(limiter.hit("burst", 10, 60) for _ in range(50)))

    assert sum(result.allowed for result in results) == 10
    assert sorted(result.remaining for result in results if result.allowed) == list(range(10))
    assert all(0 < result.retry_after_seconds <= 60 for result in results if not result.allowed)


async def test_concurrent_hits_from_separate_connections(redis_url: str) -> None:
    # Several clients stand in for several API replicas sharing one Redis.
    prefix = f"test:ratelimit:{secrets.token_hex(8)}"
    clients = [Redis.from_url(redis_url) for _ in range(5)]
    limiters = [RateLimiter(client, prefix) for client in clients]
    try:
        results = await asyncio.gather(*(limiters[i % 5].hit("shared", 7, 60) for i in range(40)))
        assert sum(result.allowed for result in results) == 7
    finally:
        await limiters[0].reset("shared")
        for client in clients:
            await client.aclose()


async def test_key_expires_once_the_budget_is_full_again(
    redis: Redis, prefix: str, limiter: RateLimiter
) -> None:
    await limiter.hit("idle", 4, 20)
    ttl_ms = await redis.pttl(f"{prefix}:idle")
    # One hit uses one interval (20 / 4 = 5 s) of the budget; the key lives that long.
    assert 4_000 < ttl_ms <= 5_000


async def test_hits_are_allowed_again_after_the_window(limiter: RateLimiter) -> None:
    for _ in range(2):
        assert (await limiter.hit("short", 2, 1)).allowed
    refused = await limiter.hit("short", 2, 1)
    assert not refused.allowed
    assert refused.retry_after_seconds == 1

    # Poll against a deadline rather than sleeping a guessed amount.
    deadline = time.monotonic() + 5
    while not (result := await limiter.hit("short", 2, 1)).allowed:
        assert time.monotonic() < deadline, "the limiter never let a hit through again"
        await asyncio.sleep(0.05)
    assert result.allowed


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (-1, 60), (10, 0)])
async def test_rejects_nonsense_limits(limiter: RateLimiter, limit: int, window: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await limiter.hit("k", limit, window)
