"""The batcher: concurrent events go out in one round trip; a request that waits for
its event learns once Redis has it, and an event offered without a waiter is sent again
while Redis is away, until it is stored or its retry window ends."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from maily.tracking.batcher import EventBatcher, EventNotStored, pack_entry
from maily.tracking.metrics import TRACKING_EVENTS, TRACKING_EVENTS_LOST
from tests.analytics.support import wait_for
from tests.ports import free_port

KEY = "maily:test-events"


class GatedBatcher(EventBatcher):
    """The real batcher on real Redis, whose round trips wait for a gate to go out."""

    def __init__(self, redis: Redis, **options: Any) -> None:
        super().__init__(redis, KEY, **options)
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()
        self.calls = 0
        self.sizes: list[int] = []
        self.open = 0
        self.most_open = 0

    async def store(self, entries: list[bytes], arguments: int) -> list[Any]:
        self.calls += 1
        self.sizes.append(len(entries))
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        self.waiting.set()
        try:
            await self.gate.wait()
            return await super().store(entries, arguments)
        finally:
            self.open -= 1


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


def offer(batcher: EventBatcher, n: int, kind: str = "open") -> bool:
    return batcher.offer(*pack_entry({"k": kind, "n": str(n)}), kind)


async def numbers(redis: Redis) -> list[int]:
    return [int(fields[b"n"]) for _, fields in await redis.xrange(KEY)]


def lost(kind: str) -> float:
    return float(TRACKING_EVENTS_LOST.labels(kind=kind)._value.get())


async def test_an_offered_event_is_taken_at_once_and_counted_once_redis_has_it(
    redis: Redis,
) -> None:
    batcher = GatedBatcher(redis, max_unacknowledged=100)
    stored = TRACKING_EVENTS.value("click")
    assert all([offer(batcher, n, "click") for n in range(10)])
    await asyncio.wait_for(batcher.waiting.wait(), 5)
    # On its way, not yet acknowledged: taken, but not counted stored.
    assert batcher.unacknowledged == 10
    assert TRACKING_EVENTS.value("click") == stored
    batcher.gate.set()
    await asyncio.wait_for(batcher.drain(), 5)
    assert batcher.unacknowledged == 0
    assert TRACKING_EVENTS.value("click") == stored + 10
    assert await numbers(redis) == list(range(10))
    assert batcher.calls == 1


async def test_offers_are_refused_while_too_many_are_unacknowledged(redis: Redis) -> None:
    batcher = GatedBatcher(redis, max_unacknowledged=3)
    assert [offer(batcher, n) for n in range(5)] == [True, True, True, False, False]
    # Refused, the request waits for its event instead: held back until Redis answers.
    waiting = asyncio.create_task(batcher.append({"k": "open", "n": "3"}))
    await asyncio.wait_for(batcher.waiting.wait(), 5)
    assert not waiting.done()
    batcher.gate.set()
    await asyncio.wait_for(waiting, 5)
    await batcher.drain()
    assert batcher.unacknowledged == 0
    assert offer(batcher, 4)
    await batcher.drain()
    # The offered batch and the waiting request's went out side by side, on two
    # connections released by the same gate: either may reach Redis first.
    assert sorted(await numbers(redis)) == [0, 1, 2, 3, 4]


async def test_full_batches_wait_for_a_free_round_trip(redis: Redis) -> None:
    batcher = GatedBatcher(redis, max_events=10, max_in_flight=1, max_unacknowledged=1000)
    assert all([offer(batcher, n) for n in range(35)])
    await asyncio.wait_for(batcher.waiting.wait(), 5)
    # Redis is slow (the gate): the full batches behind the one on its way wait.
    assert batcher.calls == 1
    batcher.gate.set()
    await asyncio.wait_for(batcher.drain(), 5)
    assert batcher.sizes == [10, 10, 10, 5]
    assert batcher.most_open == 1
    assert await numbers(redis) == list(range(35))


async def test_no_offer_is_taken_when_none_may_be_unacknowledged(redis: Redis) -> None:
    batcher = EventBatcher(redis, KEY)  # max_unacknowledged=0: every request waits
    assert not offer(batcher, 0)
    assert batcher.unacknowledged == 0


@pytest.fixture
def away_redis(tmp_path: Any) -> Iterator[tuple[str, Any]]:
    """A Redis URL whose server is not running yet, and how to start it."""
    port = free_port()
    started: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        started.append(
            subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
            )
        )

    yield f"redis://127.0.0.1:{port}/0", start
    for process in started:
        process.terminate()
        process.wait(10)


async def test_offered_events_wait_out_a_redis_that_is_away_and_are_stored_once_it_is_back(
    away_redis: tuple[str, Any],
) -> None:
    url, start = away_redis
    client = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    batcher = EventBatcher(client, KEY, max_unacknowledged=100, retry_seconds=60)
    before = lost("open")
    assert all([offer(batcher, n) for n in range(5)])
    # One request that waits, in the same batch: it is told at once; the offered
    # events are kept for the retries.
    with pytest.raises(EventNotStored):
        await batcher.append({"k": "open", "n": "99"})
    assert all([offer(batcher, n) for n in range(5, 8)])

    async def all_kept() -> bool:  # both batches failed, their offered events kept
        return sum(batch.offered for _, batch in batcher._failed) == 8

    await wait_for(all_kept, 10, lambda: f"{batcher.unacknowledged} unacknowledged")
    assert batcher.unacknowledged == 8
    assert batcher.round_trips == 0
    start()

    async def answers() -> bool:
        try:
            return bool(await client.ping())
        except RedisError:
            return False

    await wait_for(answers, 30, lambda: "redis-server did not start")
    await asyncio.wait_for(batcher.aclose(), 30)
    assert sorted(await numbers(client)) == list(range(8))
    assert batcher.unacknowledged == 0
    assert lost("open") == before
    await client.aclose()


async def test_offered_events_are_counted_lost_when_the_retry_window_ends() -> None:
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    batcher = EventBatcher(down, KEY, max_unacknowledged=100, retry_seconds=0.2)
    before = {kind: lost(kind) for kind in ("open", "click")}
    assert all([offer(batcher, n, "open") for n in range(3)] + [offer(batcher, 3, "click")])
    await asyncio.wait_for(batcher.drain(), 10)
    assert batcher.unacknowledged == 0
    assert lost("open") == before["open"] + 3
    assert lost("click") == before["click"] + 1
    await down.aclose()


@pytest.fixture(autouse=True)
async def _clean(redis: Redis) -> None:
    await redis.delete(KEY)
