"""Coalescing XADDs: events from concurrent requests go to Redis in one round trip, and
each request learns when its own event is stored.

A request calls `await batcher.append(fields)`; the first event of a batch schedules a
flush on the next turn of the event loop (by then every request the server handed over
in the same turn has added its event), and a full batch flushes at once. While
`max_in_flight` batches are on their way, new events wait for the next one, so batches
grow with load instead of round trips. `append` returns the stream entry id only after
Redis acknowledged the batch, so a request that answers after it has nothing left to
lose; if Redis fails, `append` raises EventNotStored.

One batch is one EVALSHA of a short Lua script that XADDs each entry (the stream entry
format is `maily.analytics.stream`'s, unchanged): one command and one reply per batch
is far cheaper for the client than a pipeline of XADDs (one reply each), and a batch is
stored whole or not at all. The command is packed here, straight into RESP."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from maily.tracking.metrics import TRACKING_STREAM_BATCHES

__all__ = ["APPEND_SCRIPT", "EventBatcher", "EventNotStored"]

# ARGV: for each entry, its number of field/value arguments, then those arguments.
APPEND_SCRIPT = b"""
local ids = {}
local i = 1
local n = #ARGV
while i <= n do
  local count = tonumber(ARGV[i])
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + count))
  i = i + count + 1
end
return ids
"""
_SHA = hashlib.sha1(APPEND_SCRIPT, usedforsecurity=False).hexdigest().encode()


class EventNotStored(Exception):
    """Redis did not acknowledge the event (down, timed out, refused it)."""


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


# Field names are few and short: their RESP form is made once.
_NAMES: dict[str, bytes] = {}


def _name(name: str) -> bytes:
    packed = _NAMES.get(name)
    if packed is None:
        packed = _NAMES[name] = _bulk(name.encode())
    return packed


def pack_batch(command: bytes, script: bytes, key: bytes, batch: list[dict[str, str]]) -> bytes:
    """EVALSHA <sha> 1 <key> (<count> <field> <value> ...)... as one RESP command."""
    parts = []
    arguments = 0
    names = _NAMES
    for fields in batch:
        parts.append(_bulk(b"%d" % (2 * len(fields))))
        for name, value in fields.items():
            raw = value.encode()
            parts.append((names.get(name) or _name(name)) + b"$%d\r\n%s\r\n" % (len(raw), raw))
        arguments += 1 + 2 * len(fields)
    head = b"*%d\r\n%s%s$1\r\n1\r\n%s" % (4 + arguments, _bulk(command), _bulk(script), _bulk(key))
    return head + b"".join(parts)


class EventBatcher:
    def __init__(
        self,
        redis: Any,
        stream_key: str,
        *,
        max_events: int = 256,
        max_in_flight: int = 2,
    ) -> None:
        self.redis = redis
        self.stream_key = stream_key
        self._key = stream_key.encode()
        self.max_events = max_events
        self.max_in_flight = max_in_flight
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
            loop.call_soon(self._flush_soon)
        return await waiter

    def _flush_soon(self) -> None:
        self._scheduled = False
        # Enough batches on their way: this one goes when one of them comes back.
        if len(self._flushes) < self.max_in_flight:
            self._flush_now()

    def _flush_now(self) -> None:
        if not self._fields:
            return
        fields, waiters = self._fields, self._waiters
        self._fields, self._waiters = [], []
        task = asyncio.ensure_future(self._send(fields, waiters))
        self._flushes.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        if self._fields and not self._scheduled:
            self._flush_now()

    async def _send(self, batch: list[dict[str, str]], waiters: list[asyncio.Future[str]]) -> None:
        try:
            ids = await self.store(batch)
        except (RedisError, OSError, TimeoutError) as exc:
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
        TRACKING_STREAM_BATCHES.inc()
        for waiter, entry in zip(waiters, ids, strict=True):
            if not waiter.done():
                waiter.set_result(entry.decode() if isinstance(entry, bytes) else str(entry))

    async def store(self, batch: list[dict[str, str]]) -> list[Any]:
        """One round trip: the batch's entries appended, their ids in order."""
        command = pack_batch(b"EVALSHA", _SHA, self._key, batch)
        try:
            return await self._call(command)
        except NoScriptError:
            # Redis restarted or its script cache was flushed: EVAL caches it again.
            return await self._call(pack_batch(b"EVAL", APPEND_SCRIPT, self._key, batch))

    async def _call(self, command: bytes) -> list[Any]:
        pool = self.redis.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(command, check_health=False)
            reply = await connection.read_response()
        except NoScriptError:
            raise
        except BaseException:
            # Half a command or an unread reply: the connection can't be reused.
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)
        if isinstance(reply, Exception):
            raise reply
        return list(reply)

    async def drain(self) -> None:
        """Wait for every flush in flight, and the events still waiting (on shutdown)."""
        self._flush_now()
        while self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
            self._flush_now()
