"""Coalescing XADDs: events from concurrent requests go to Redis in one pipelined round
trip, and each request learns when its own event is stored.

A request calls `await batcher.append(fields)`; the first event of a batch schedules a
flush on the next turn of the event loop (by then every request the server handed over
in the same turn has added its event), and a full batch flushes at once. `append`
returns the stream entry id only after Redis acknowledged that XADD, so a request that
answers after it has nothing left to lose; if Redis fails, `append` raises."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import RedisError

__all__ = ["EventBatcher", "EventNotStored"]


class EventNotStored(Exception):
    """Redis did not acknowledge the event (down, timed out, refused it)."""


class EventBatcher:
    def __init__(self, redis: Any, stream_key: str, *, max_events: int = 256) -> None:
        self.redis = redis
        self.stream_key = stream_key
        self.max_events = max_events
        self._fields: list[dict[str, str]] = []
        self._waiters: list[asyncio.Future[str]] = []
        self._scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()
        # Round trips and events sent, for the bench and the tests.
        self.round_trips = 0
        self.events = 0

    async def append(self, fields: dict[str, str]) -> str:
        """Append one entry; returns its stream id once Redis has stored it."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[str] = loop.create_future()
        self._fields.append(fields)
        self._waiters.append(waiter)
        if len(self._fields) >= self.max_events:
            self._flush_now()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush_now)
        return await waiter

    def _flush_now(self) -> None:
        self._scheduled = False
        if not self._fields:
            return
        fields, waiters = self._fields, self._waiters
        self._fields, self._waiters = [], []
        task = asyncio.ensure_future(self._send(fields, waiters))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _send(self, batch: list[dict[str, str]], waiters: list[asyncio.Future[str]]) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            key = self.stream_key
            for fields in batch:
                pipe.xadd(key, fields)
            ids = await pipe.execute(raise_on_error=False)
        except (TimeoutError, RedisError, OSError) as exc:
            error = EventNotStored(f"the event stream did not answer: {exc}")
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        except BaseException as exc:  # cancelled on shutdown: nobody waits for nothing
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(EventNotStored(f"the event was not sent: {exc!r}"))
            raise
        self.round_trips += 1
        self.events += len(batch)
        for waiter, entry in zip(waiters, ids, strict=True):
            if waiter.done():
                continue
            if isinstance(entry, Exception):
                waiter.set_exception(EventNotStored(f"the event stream refused it: {entry}"))
            else:
                waiter.set_result(entry.decode() if isinstance(entry, bytes) else str(entry))

    async def drain(self) -> None:
        """Wait for every flush in flight (on shutdown)."""
        self._flush_now()
        while self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
