"""Coalescing XADDs: events from concurrent requests go to Redis in one round trip.

An event joins the current batch in one of two ways. `await batcher.append(fields)`
(or `append_packed`) returns the stream entry id only after Redis acknowledged the
batch, and raises EventNotStored if Redis failed: an unsubscribe answers only then.
`batcher.offer(entry, arguments, kind)` takes the event without anyone waiting: the
open and click endpoints answer at once. An offered event that Redis does not take is
sent again, with backoff, for `retry_seconds`, and only then counted lost; while
`max_unacknowledged` offered events are still unacknowledged, `offer` refuses and the
endpoint waits for its event instead, so a slow or absent Redis holds requests back
rather than letting memory grow. What an offered event risks is the process dying
before Redis acknowledged it (about one round trip of events; `drain` on shutdown
sends everything first).

The first event of a batch schedules a flush on the next turn of the event loop (by
then every request the server handed over in the same turn has added its event). While
`max_in_flight` batches are on their way, new events wait for the next one, so batches
grow with load instead of round trips; a batch that reaches `max_events` is closed and
goes as soon as one on its way comes back. No more than `max_in_flight` round trips (and
connections; the retries take one more) are ever open at once.

One batch is one EVALSHA of a short Lua script that XADDs each entry (the stream entry
format is `maily.analytics.stream`'s, unchanged): one command and one reply per batch
is far cheaper for the client than a pipeline of XADDs (one reply each), and a batch is
stored whole or not at all. The command is packed here, straight into RESP; the open and
click endpoints hand over their entries already packed, built from the verified token
without a dict in between."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import deque
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from maily.kit.logging import get_logger
from maily.tracking.connections import AppendConnections
from maily.tracking.metrics import TRACKING_EVENTS, TRACKING_EVENTS_LOST, TRACKING_STREAM_BATCHES

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

_log = get_logger("maily.tracking")


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


def _arguments(entry: bytes) -> int:
    """How many script arguments a packed entry is (its count, then the pairs)."""
    start = entry.index(b"\r\n") + 2
    return 1 + int(entry[start : entry.index(b"\r\n", start)])


def pack_batch(
    command: bytes, script: bytes, key: bytes, entries: list[bytes], arguments: int
) -> bytes:
    """EVALSHA <sha> 1 <key> (<count> <field> <value> ...)... as one RESP command, from
    entries packed by `pack_entry` (or built the same way) and their argument total."""
    head = b"*%d\r\n%s%s$1\r\n1\r\n%s" % (4 + arguments, bulk(command), bulk(script), bulk(key))
    return head + b"".join(entries)


class _Batch:
    """The entries of one round trip and, for each, who learns its fate: the future of
    the request that waits on it (one each: a request cancelled while it waits cancels
    only its own), or, for an entry its request did not wait for, its kind (a str)."""

    __slots__ = ("arguments", "entries", "offered", "waiters")

    def __init__(self) -> None:
        self.entries: list[bytes] = []
        self.arguments = 0
        self.waiters: list[asyncio.Future[str] | str] = []
        # How many of the entries nobody waits for.
        self.offered = 0


def _fail(waiters: list[asyncio.Future[str] | str], error: EventNotStored) -> None:
    for waiter in waiters:
        if not isinstance(waiter, str) and not waiter.done():
            waiter.set_exception(error)


_STORE_ERRORS = (RedisError, OSError, TimeoutError)
# The first retry of a batch Redis did not take, and the longest pause between two.
RETRY_FIRST_SECONDS = 0.05
RETRY_MAX_SECONDS = 1.0


class EventBatcher:
    def __init__(
        self,
        redis: Any,
        stream_key: str,
        *,
        max_events: int = 256,
        max_in_flight: int = 2,
        max_unacknowledged: int = 0,
        retry_seconds: float = 30.0,
    ) -> None:
        self.redis = redis
        self.stream_key = stream_key
        self._key = stream_key.encode()
        self.max_events = max_events
        self.max_in_flight = max_in_flight
        # Events taken by `offer` whose fate is open (on their way, or kept for a
        # retry), at most; 0: `offer` takes none.
        self.max_unacknowledged = max_unacknowledged
        self.retry_seconds = retry_seconds
        self.unacknowledged = 0
        # The loop the batcher runs on, taken on first use (asking for the running
        # loop on every request costs a system call in asyncio's C code).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch: _Batch | None = None
        self._scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()
        # Full batches waiting for one on its way to come back: never more than
        # max_in_flight round trips (and connections) at once, even when requests
        # do not wait for theirs and Redis is slow.
        self._full: deque[_Batch] = deque()
        # Offered entries Redis did not take, oldest first, each batch with the time
        # it first failed; `_retrying` sends them again.
        self._failed: deque[tuple[float, _Batch]] = deque()
        self._retrying: asyncio.Task[None] | None = None
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
        waiter: asyncio.Future[str] = loop.create_future()
        self._add(entry, arguments, waiter)
        return await waiter

    def offer(self, entry: bytes, arguments: int, kind: str) -> bool:
        """Take an entry (packed as `pack_entry` makes it) without anyone waiting for
        it: True when taken. It goes out with the next batch and, should Redis not take
        it, is sent again for `retry_seconds`; then it is counted lost under `kind`.
        It is counted stored (`maily_tracking_events_total{kind}`) once Redis acknowledged
        it. False when `max_unacknowledged` events are already taken and unacknowledged:
        the caller waits for its event instead (`append_packed`), which holds requests
        back while Redis is slow or away."""
        if self.unacknowledged >= self.max_unacknowledged:
            return False
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self.unacknowledged += 1
        self._add(entry, arguments, kind)
        return True

    def _add(self, entry: bytes, arguments: int, waiter: asyncio.Future[str] | str) -> None:
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
        batch.entries.append(entry)
        batch.arguments += arguments
        batch.waiters.append(waiter)
        if isinstance(waiter, str):
            batch.offered += 1
        if len(batch.entries) >= self.max_events:
            # Full: it goes as soon as fewer than max_in_flight are on their way.
            self._batch = None
            self._full.append(batch)
            self._send_full()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_soon)  # type: ignore[union-attr]

    def _flush_soon(self) -> None:
        self._scheduled = False
        self._flush_if_room()

    def _flush_if_room(self) -> None:
        # Enough batches on their way: this one goes when one of them comes back.
        if len(self._flushes) < self.max_in_flight:
            self._flush_now()

    def _send_full(self) -> None:
        while self._full and len(self._flushes) < self.max_in_flight:
            self._start(self._full.popleft())

    def _flush_now(self) -> None:
        batch = self._batch
        if batch is None:
            return
        self._batch = None
        self._start(batch)

    def _start(self, batch: _Batch) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._send(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        self._send_full()
        if not self._scheduled:  # else it goes on the loop turn already asked for
            self._flush_if_room()

    async def _send(self, batch: _Batch) -> None:
        waiters = batch.waiters
        try:
            ids = await self.store(batch.entries, batch.arguments)
        except _STORE_ERRORS as exc:
            error = EventNotStored(f"the event stream did not answer: {exc}")
            _fail(waiters, error)
            if batch.offered:
                self._keep(batch)
            return
        except BaseException as exc:  # cancelled on shutdown: nobody waits for nothing
            error = EventNotStored(f"the event was not sent: {exc!r}")
            _fail(waiters, error)
            self._lose(batch, error)
            raise
        self._stored(batch, ids)

    def _stored(self, batch: _Batch, ids: list[Any]) -> None:
        self.round_trips += 1
        self.events += len(batch.entries)
        TRACKING_STREAM_BATCHES.inc()
        if batch.offered:
            self.unacknowledged -= batch.offered
        events = TRACKING_EVENTS
        for waiter, entry in zip(batch.waiters, ids, strict=True):
            if isinstance(waiter, str):
                events.add(waiter)
            elif not waiter.done():
                waiter.set_result(entry.decode() if isinstance(entry, bytes) else str(entry))

    def _keep(self, batch: _Batch) -> None:
        """Hold a failed batch's offered entries for `_retry` (its waiters have been
        told already)."""
        if batch.offered < len(batch.entries):
            kept = _Batch()
            for entry, waiter in zip(batch.entries, batch.waiters, strict=True):
                if isinstance(waiter, str):
                    kept.entries.append(entry)
                    kept.waiters.append(waiter)
            kept.offered = len(kept.entries)
            kept.arguments = sum(_arguments(entry) for entry in kept.entries)
            batch = kept
        assert self._loop is not None
        self._failed.append((self._loop.time(), batch))
        if self._retrying is None:
            self._retrying = self._loop.create_task(self._retry())

    async def _retry(self) -> None:
        """Send the failed batches again, oldest first, pausing longer after each
        failure (from RETRY_FIRST_SECONDS up to RETRY_MAX_SECONDS, with jitter); a batch
        still refused `retry_seconds` after its first failure is counted lost."""
        assert self._loop is not None
        pause = RETRY_FIRST_SECONDS
        try:
            while self._failed:
                await asyncio.sleep(pause * random.uniform(0.5, 1.0))  # noqa: S311 (jitter)
                while self._failed:
                    failed_at, batch = self._failed[0]
                    try:
                        ids = await self.store(batch.entries, batch.arguments)
                    except _STORE_ERRORS as exc:
                        if self._loop.time() - failed_at >= self.retry_seconds:
                            self._failed.popleft()
                            self._lose(batch, EventNotStored(f"gave up retrying: {exc}"))
                            continue
                        pause = min(pause * 2, RETRY_MAX_SECONDS)
                        break
                    self._failed.popleft()
                    self._stored(batch, ids)
                    pause = RETRY_FIRST_SECONDS
        except BaseException as exc:
            error = EventNotStored(f"the event was not sent: {exc!r}")
            while self._failed:
                self._lose(self._failed.popleft()[1], error)
            raise
        finally:
            self._retrying = None

    def _lose(self, batch: _Batch, error: EventNotStored) -> None:
        """Count a batch's offered entries lost, by kind."""
        if not batch.offered:
            return
        self.unacknowledged -= batch.offered
        lost: dict[str, int] = {}
        for waiter in batch.waiters:
            if isinstance(waiter, str):
                lost[waiter] = lost.get(waiter, 0) + 1
        for kind, count in lost.items():
            TRACKING_EVENTS_LOST.labels(kind=kind).inc(count)
        _log.warning("tracking events not stored", events=lost, error=str(error))

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
        """Wait until every event taken so far is stored or counted lost: the flushes in
        flight, the events still waiting, and the retries (on shutdown, and where a
        test reads the stream)."""
        while True:
            self._send_full()
            self._flush_if_room()
            pending: set[asyncio.Task[None]] = set(self._flushes)
            if self._retrying is not None:
                pending.add(self._retrying)
            if not pending:
                return
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)

    async def aclose(self) -> None:
        """`drain`, then close the batcher's own connections."""
        await self.drain()
        if self._connections is not None:
            self._connections.close()
