"""The batcher: concurrent events go out in one round trip, each request answered only
once Redis has its event."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from maily.tracking.batcher import EventBatcher, EventNotStored

KEY = "maily:test-events"


class GatedBatcher(EventBatcher):
    """The real batcher on real Redis, whose round trips wait for a gate to go out."""

    def __init__(self, redis: Redis, **options: Any) -> None:
        super().__init__(redis, KEY, **options)
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()
        self.calls = 0

    async def store(self, entries: list[bytes], arguments: int) -> list[Any]:
        self.calls += 1
        self.waiting.set()
        await self.gate.wait()
        return await super().store(entries, arguments)


async def test_concurrent_events_are_one_round_trip_and_answered_after_xadd(redis: Redis) -> None:
    batcher = GatedBatcher(redis, max_events=1000)
    tasks = [asyncio.create_task(batcher.append({"k": "open", "n": str(n)})) for n in range(200)]
    await asyncio.wait_for(batcher.waiting.wait(), 5)
    # The round trip is out but not answered: no request has its answer yet.
    assert not any(task.done() for task in tasks)
    assert await redis.xlen(KEY) == 0
    batcher.gate.set()
    ids = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert batcher.calls == 1
    assert batcher.round_trips == 1
    entries = await redis.xrange(KEY)
    assert [entry_id.decode() for entry_id, _ in entries] == ids
    assert [fields[b"n"] for _, fields in entries] == [str(n).encode() for n in range(200)]


async def test_a_full_batch_goes_at_once(redis: Redis) -> None:
    batcher = EventBatcher(redis, KEY, max_events=50)
    ids = await asyncio.gather(*(batcher.append({"k": "click", "n": str(n)}) for n in range(120)))
    assert len(set(ids)) == 120
    assert await redis.xlen(KEY) == 120
    assert batcher.round_trips == 3  # 50 + 50 + the 20 left on the next loop turn


async def test_batches_grow_while_round_trips_are_in_flight(redis: Redis) -> None:
    batcher = GatedBatcher(redis, max_in_flight=1)
    first = asyncio.create_task(batcher.append({"k": "open", "n": "0"}))
    await asyncio.wait_for(batcher.waiting.wait(), 5)
    rest = [asyncio.create_task(batcher.append({"k": "open", "n": str(n)})) for n in range(1, 31)]
    await asyncio.sleep(0)  # a loop turn: the 30 are queued behind the batch in flight
    assert batcher.calls == 1
    batcher.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *rest), 5)
    assert batcher.calls == 2  # one for the first, one for the 30 that waited
    entries = await redis.xrange(KEY)
    assert [fields[b"n"] for _, fields in entries] == [str(n).encode() for n in range(31)]


async def test_a_flushed_script_cache_is_loaded_again(redis: Redis) -> None:
    batcher = EventBatcher(redis, KEY)
    await batcher.append({"k": "open"})
    await redis.script_flush()
    await batcher.append({"k": "click", "l": "3"})
    entries = await redis.xrange(KEY)
    assert [fields for _, fields in entries] == [{b"k": b"open"}, {b"k": b"click", b"l": b"3"}]


async def test_redis_down_raises_for_every_waiting_request() -> None:
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    batcher = EventBatcher(down, KEY)
    results = await asyncio.gather(
        *(batcher.append({"k": "open"}) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(result, EventNotStored) for result in results)
    await down.aclose()


async def test_drain_waits_for_flushes_in_flight(redis: Redis) -> None:
    batcher = GatedBatcher(redis)
    task = asyncio.create_task(batcher.append({"k": "open"}))
    await asyncio.wait_for(batcher.waiting.wait(), 5)
    draining = asyncio.create_task(batcher.drain())
    await asyncio.sleep(0)  # one loop turn: drain must still be waiting
    assert not draining.done()
    batcher.gate.set()
    await asyncio.wait_for(draining, 5)
    assert task.done()
    assert await redis.xlen(KEY) == 1


@pytest.fixture(autouse=True)
async def _clean(redis: Redis) -> None:
    await redis.delete(KEY)
