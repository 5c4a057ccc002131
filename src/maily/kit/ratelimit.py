"""Rate limits kept in Redis: GCRA, decided atomically by one Lua script."""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis.asyncio import Redis

__all__ = ["RateLimitResult", "RateLimiter"]

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
