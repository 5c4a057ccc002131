"""A task's shared memory in Redis: the brief, the plan, each specialist's output, the
critic's findings, the iteration count and token spend, under
`maily:ai:task:<task_id>:…` with a TTL, so every agent step (and another replica
asked about the task) reads the same state."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable
from typing import Any, cast

from redis.asyncio import Redis

__all__ = ["DEFAULT_TTL_SECONDS", "TaskMemory"]

DEFAULT_TTL_SECONDS = 24 * 3600


class TaskMemory:
    def __init__(self, redis: Redis, task_id: uuid.UUID, ttl_seconds: int = DEFAULT_TTL_SECONDS):
        self.redis = redis
        self.task_id = task_id
        self.ttl = ttl_seconds
        self.prefix = f"maily:ai:task:{task_id}:"

    def key(self, name: str) -> str:
        return self.prefix + name

    async def put(self, name: str, value: Any) -> None:
        """Store a JSON value (a specialist's output: `output:<agent>`)."""
        await self.redis.set(self.key(name), json.dumps(value, default=str), ex=self.ttl)

    async def get(self, name: str) -> Any:
        raw = await self.redis.get(self.key(name))
        return None if raw is None else json.loads(raw)

    async def put_output(self, agent: str, value: Any) -> None:
        await self.put(f"output:{agent}", value)

    async def output(self, agent: str) -> Any:
        return await self.get(f"output:{agent}")

    async def add_findings(self, findings: list[dict[str, Any]]) -> None:
        """The critic's findings of one round, appended in order."""
        key = self.key("findings")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(findings))
            pipe.expire(key, self.ttl)
            await pipe.execute()

    async def findings(self) -> list[list[dict[str, Any]]]:
        rows = await cast(Awaitable[list[bytes]], self.redis.lrange(self.key("findings"), 0, -1))
        return [json.loads(raw) for raw in rows]

    async def next_iteration(self) -> int:
        key = self.key("iterations")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.ttl)
            count, _ = await pipe.execute()
        return int(count)

    async def iterations(self) -> int:
        return int(await self.redis.get(self.key("iterations")) or 0)

    async def spend(self, tokens: int, steps: int = 1) -> tuple[int, int]:
        """Add one agent run's tokens; returns (tokens, steps) spent so far."""
        tokens_key, steps_key = self.key("tokens"), self.key("steps")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(tokens_key, tokens)
            pipe.incrby(steps_key, steps)
            pipe.expire(tokens_key, self.ttl)
            pipe.expire(steps_key, self.ttl)
            spent_tokens, spent_steps, _, _ = await pipe.execute()
        return int(spent_tokens), int(spent_steps)

    async def spent(self) -> tuple[int, int]:
        tokens, steps = await self.redis.mget(self.key("tokens"), self.key("steps"))
        return int(tokens or 0), int(steps or 0)

    async def keys(self) -> list[str]:
        found = [key async for key in self.redis.scan_iter(match=self.prefix + "*")]
        return sorted(k.decode() if isinstance(k, bytes) else k for k in found)
