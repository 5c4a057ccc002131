"""Rate limits: GCRA and token buckets kept in Redis (atomic Lua), and an in-process bucket."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

__all__ = ["RateLimitResult", "RateLimiter", "RedisTokenBucket", "TokenBucket"]

# GCRA (generic cell rate algorithm): one key per limited thing holds its
# "theoretical arrival time" (TAT), in microseconds of Redis server time. Each
# allowed hit pushes the TAT one emission interval (window / limit) further; a
# hit is refused when that would put the TAT more than a whole window ahead of
# now. So `limit` hits may come at once, and then one more per interval. State
# is one integer per key, and the key expires when the budget is full again.
#
# Server time (TIME) rather than each replica's clock keeps replicas consistent.
# Integers are written with %d because Lua's default number formatting keeps
# only 14 significant digits, fewer than a microsecond timestamp has.
_GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local tolerance = interval * limit
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local ahead = tat + interval - now
if ahead > tolerance then
  return {0, 0, ahead - tolerance, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', tat + interval),
           'PX', string.format('%d', math.ceil(ahead / 1000)))
return {1, math.floor((tolerance - ahead) / interval), 0, ahead}
"""

_MICROSECONDS = 1_000_000


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    allowed: bool
    limit: int
    # hits still allowed right now, after this one
    remaining: int
    # 0 when allowed; otherwise whole seconds to wait (rounded up, for Retry-After)
    retry_after_seconds: int
    # whole seconds until the full budget is available again (rounded up)
    reset_after_seconds: int


class RateLimiter:
    """Counts hits per key under `prefix`; each call says the limit it enforces."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_GCRA_SCRIPT)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateLimitResult:
        """Count one hit against `key`: at most `limit` per `window_seconds`.

        A refused hit is not counted, so a client that waits `retry_after_seconds`
        gets through.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window_seconds < 1:
            raise ValueError("window_seconds must be at least 1")
        # Floor, so `limit` back-to-back hits always fit in the window; at least
        # 1 µs so the schedule always moves.
        interval = max(1, window_seconds * _MICROSECONDS // limit)
        allowed, remaining, retry_after, reset_after = await self._script(
            keys=[self._key(key)], args=[interval, limit]
        )
        return RateLimitResult(
            allowed=bool(allowed),
            limit=limit,
            remaining=int(remaining),
            retry_after_seconds=_whole_seconds(int(retry_after)),
            reset_after_seconds=_whole_seconds(int(reset_after)),
        )

    async def reset(self, key: str) -> None:
        """Forget the hits against `key` (a successful sign-in clears its counter)."""
        await self._redis.delete(self._key(key))


def _whole_seconds(microseconds: int) -> int:
    return math.ceil(microseconds / _MICROSECONDS) if microseconds > 0 else 0


class TokenBucket:
    """An in-process token bucket: `rate` tokens a second, holding at most `capacity`.

    For pacing inside one process (an SMTP server's messages per second across the
    connections of one transport). It starts full, so a burst of `capacity` goes out
    at once. Waiters are served in arrival order: each reserves its tokens and sleeps
    until they have accrued, so a steady stream gets exactly `rate` a second."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        capacity = rate if capacity is None else capacity
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._updated = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return self._tokens

    @property
    def tokens(self) -> float:
        """Tokens available now (negative while reservations are outstanding)."""
        return self._refill()

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take `tokens` if they are there now; never waits."""
        if self._refill() >= tokens:
            self._tokens -= tokens
            return True
        return False

    def reserve(self, tokens: float = 1.0) -> float:
        """Take `tokens` now, possibly into debt; returns the seconds to wait before
        using them. Later callers queue behind the debt, which keeps the order fair."""
        if tokens > self.capacity:
            raise ValueError("cannot take more tokens than the bucket holds")
        self._tokens = self._refill() - tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self, tokens: float = 1.0) -> None:
        """Wait until `tokens` may be used."""
        wait = self.reserve(tokens)
        if wait > 0:
            await asyncio.sleep(wait)


# A token bucket per key: a hash with the token count and the time (µs, Redis server
# time) it was last brought up to date. A reservation always takes its tokens, going
# into debt when there are too few, and answers how long the caller must wait before
# using them; the debt is bounded by `max_wait` so a flood of callers cannot push the
# schedule arbitrarily far out: past it the call is refused and nothing is taken.
# The key expires once the bucket would be full again, so idle keys cost nothing.
_BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local requested = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000000)
end
local after = tokens - requested
local wait = 0
if after < 0 then
  wait = math.ceil(-after * 1000000 / rate)
end
if wait > max_wait then
  return {0, 0, wait - max_wait}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(after), 'ts', string.format('%d', now))
local refill = math.ceil((capacity - after) * 1000000 / rate)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(refill / 1000)))
return {1, wait, 0}
"""


class RedisTokenBucket:
    """Token buckets in Redis, shared by every replica: one per key under `prefix`.

    Used for rates that span processes: messages a second per transport and per
    workspace. Each call names the rate it enforces, like `RateLimiter.hit`."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_BUCKET_SCRIPT)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def reserve(
        self,
        key: str,
        tokens: float,
        rate: float,
        capacity: float | None = None,
        *,
        max_wait: float = 60.0,
    ) -> float | None:
        """Take `tokens` from `key`'s bucket (`rate` a second, `capacity` at most,
        default one second's worth); returns the seconds to wait before using them,
        or None (nothing taken) when that wait would exceed `max_wait`."""
        capacity = rate if capacity is None else capacity
        if rate <= 0:
            raise ValueError("rate must be positive")
        if tokens <= 0:
            raise ValueError("tokens must be positive")
        if tokens > capacity:
            raise ValueError("cannot take more tokens than the bucket holds")
        granted, wait, _ = await self._script(
            keys=[self._key(key)],
            args=[
                repr(float(rate)),
                repr(float(capacity)),
                repr(float(tokens)),
                int(max_wait * _MICROSECONDS),
            ],
        )
        if not granted:
            return None
        return int(wait) / _MICROSECONDS

    async def acquire(
        self,
        key: str,
        tokens: float,
        rate: float,
        capacity: float | None = None,
        *,
        max_wait: float = 60.0,
    ) -> bool:
        """Wait until `tokens` may be used; False (after no wait) when the wait would
        exceed `max_wait`, so the caller can defer its work instead of blocking."""
        wait = await self.reserve(key, tokens, rate, capacity, max_wait=max_wait)
        if wait is None:
            return False
        if wait > 0:
            await asyncio.sleep(wait)
        return True

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._key(key))
