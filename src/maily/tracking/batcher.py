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
stored whole or not at all. The command is packed here, straight into RESP; the open and
click endpoints hand over their entries already packed (`append_packed`), built from the
verified token without a dict in between."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from maily.tracking.connections import AppendConnections
from maily.tracking.metrics import TRACKING_STREAM_BATCHES

__all__ = [
    "APPEND_SCRIPT",
    "ENTRY_HEADS",
    "EventBatcher",
    "EventNotStored",
    "bulk",
    "pack_entry",
]

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


def bulk(value: bytes) -> bytes:
    """One RESP bulk string: for building entries the way `pack_entry` does."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


# Field names are few and short: their RESP form is made once.
_NAMES: dict[str, bytes] = {}


def _name(name: str) -> bytes:
    packed = _NAMES.get(name)
    if packed is None:
        packed = _NAMES[name] = bulk(name.encode())
    return packed


# An entry's first argument: how many field and value arguments follow.
ENTRY_HEADS = tuple(bulk(b"%d" % (2 * pairs)) for pairs in range(33))


def pack_entry(fields: dict[str, str]) -> tuple[bytes, int]:
    """One entry's script arguments in RESP (its field/value count, then the pairs),
    and how many arguments that is."""
    pairs = len(fields)
    parts = [ENTRY_HEADS[pairs] if pairs < len(ENTRY_HEADS) else bulk(b"%d" % (2 * pairs))]
    names = _NAMES
    for name, value in fields.items():
        raw = value.encode()
        parts.append((names.get(name) or _name(name)) + b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts), 1 + 2 * len(fields)


def pack_batch(
    command: bytes, script: bytes, key: bytes, entries: list[bytes], arguments: int
) -> bytes:
    """EVALSHA <sha> 1 <key> (<count> <field> <value> ...)... as one RESP command, from
    entries packed by `pack_entry` (or built the same way) and their argument total."""
    head = b"*%d\r\n%s%s$1\r\n1\r\n%s" % (4 + arguments, bulk(command), bulk(script), bulk(key))
    return head + b"".join(entries)


class _Batch:
    """The entries of one round trip, and a future per entry for the request that
    waits on it (one each: a request cancelled while it waits cancels only its own)."""

    __slots__ = ("arguments", "entries", "waiters")

    def __init__(self) -> None:
        self.entries: list[bytes] = []
        self.arguments = 0
        self.waiters: list[asyncio.Future[str]] = []


def _fail(waiters: list[asyncio.Future[str]], error: EventNotStored) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(error)


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
        # The loop the batcher runs on, taken on first use (asking for the running
        # loop on every request costs a system call in asyncio's C code).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch: _Batch | None = None
        self._scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()
        # The round trips' own connections (None: the client's pool, see
        # maily.tracking.connections).
        self._connections = AppendConnections.of(redis)
        # Round trips and events sent, for the bench and the tests.
        self.round_trips = 0
        self.events = 0

    async def append(self, fields: dict[str, str]) -> str:
        """Append one entry; returns its stream id once Redis has stored it."""
        entry, arguments = pack_entry(fields)
        return await self.append_packed(entry, arguments)

    async def append_packed(self, entry: bytes, arguments: int) -> str:
        """`append` for an entry already in RESP, as `pack_entry` makes it."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
        waiter: asyncio.Future[str] = loop.create_future()
        batch.entries.append(entry)
        batch.arguments += arguments
        batch.waiters.append(waiter)
        if len(batch.entries) >= self.max_events:
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
        batch = self._batch
        if batch is None:
            return
        self._batch = None
        assert self._loop is not None
        task = self._loop.create_task(self._send(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        if self._batch is not None and not self._scheduled:
            self._flush_now()

    async def _send(self, batch: _Batch) -> None:
        waiters = batch.waiters
        try:
            ids = await self.store(batch.entries, batch.arguments)
        except (RedisError, OSError, TimeoutError) as exc:
            _fail(waiters, EventNotStored(f"the event stream did not answer: {exc}"))
            return
        except BaseException as exc:  # cancelled on shutdown: nobody waits for nothing
            _fail(waiters, EventNotStored(f"the event was not sent: {exc!r}"))
            raise
        self.round_trips += 1
        self.events += len(waiters)
        TRACKING_STREAM_BATCHES.inc()
        for waiter, entry in zip(waiters, ids, strict=True):
            if not waiter.done():
                waiter.set_result(entry.decode() if isinstance(entry, bytes) else str(entry))

    async def store(self, entries: list[bytes], arguments: int) -> list[Any]:
        """One round trip: the entries appended, their ids in order."""
        command = pack_batch(b"EVALSHA", _SHA, self._key, entries, arguments)
        try:
            return await self._call(command)
        except NoScriptError:
            # Redis restarted or its script cache was flushed: EVAL caches it again.
            return await self._call(
                pack_batch(b"EVAL", APPEND_SCRIPT, self._key, entries, arguments)
            )

    async def _call(self, command: bytes) -> list[Any]:
        if self._connections is not None:
            return list(await self._connections.call(command))
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

    async def aclose(self) -> None:
        """`drain`, then close the batcher's own connections."""
        await self.drain()
        if self._connections is not None:
            self._connections.close()
