"""`maily webhooks`: reads the event stream in the `webhooks` consumer group and turns
each entry into deliveries for the endpoints that subscribe to it.

Per batch: one query resolves every delivery id to its workspace, campaign and
contact; one query finds the subscribed endpoints of those workspaces; the
deliveries are inserted (an entry seen before inserts nothing: the entry id is
the event id) and their jobs queued after commit; only then are the entries
acknowledged. A consumer that dies leaves its entries pending; another one takes
them over once they have been idle for `claim_idle_seconds`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.analytics.stream import StreamFormatError, TrackingEvent, decode_event
from maily.config import Settings
from maily.kit.db import AsyncSession, create_engine, create_sessionmaker, transaction
from maily.kit.logging import get_logger
from maily.kit.queue import JobQueue, current_queue, set_current_queue
from maily.webhooks.events import stream_event
from maily.webhooks.repository import WebhookRepository
from maily.webhooks.service import fan_out

_log = get_logger("maily.webhooks.dispatcher")

Entry = tuple[str, dict[str, str]]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _entries(raw: Sequence[Any]) -> list[Entry]:
    entries: list[Entry] = []
    for entry_id, fields in raw:
        if fields is None:  # deleted from the stream while pending
            continue
        entries.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
    return entries


class StreamDispatcher:
    def __init__(
        self,
        redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        consumer: str | None = None,
    ) -> None:
        self.redis = redis
        self.sessionmaker = sessionmaker
        self.settings = settings.webhooks
        self.stream = settings.analytics.stream_key
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._claim_cursor = "0-0"
        # Set after a batch failed: its entries are pending on this consumer, and `>`
        # would never hand them out again.
        self._redo_own = True

    @property
    def group(self) -> str:
        return self.settings.consumer_group

    async def ensure_group(self) -> None:
        """Create the consumer group (from the start of the stream) unless it exists."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def handle(self, entries: Sequence[Entry]) -> int:
        """Make the deliveries of a batch, commit, queue their jobs, then acknowledge.
        Returns how many deliveries were made."""
        if not entries:
            return 0
        decoded: list[tuple[str, TrackingEvent]] = []
        for entry_id, fields in entries:
            try:
                decoded.append((entry_id, decode_event(fields)))
            except StreamFormatError as exc:
                # Acknowledged below with the rest: retrying cannot make it readable.
                _log.warning("undecodable stream entry skipped", entry_id=entry_id, error=str(exc))
        made = 0
        if decoded:
            async with transaction(self.sessionmaker) as session:
                recipients = await WebhookRepository(session).recipients(
                    sorted({event.delivery_id for _, event in decoded})
                )
                events = [
                    stream_event(entry_id, event, recipients[event.delivery_id])
                    for entry_id, event in decoded
                    # No recipient: a test send or an erased contact, nobody to tell.
                    if event.delivery_id in recipients
                ]
                made = await fan_out(session, events)
            # Here the transaction has committed and the jobs are queued.
        await self.redis.xack(self.stream, self.group, *[entry_id for entry_id, _ in entries])
        return made

    async def claim_stale(self) -> list[Entry]:
        """Entries another consumer read and never acknowledged, idle long enough."""
        result = await self.redis.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=int(self.settings.claim_idle_seconds * 1000),
            start_id=self._claim_cursor,
            count=self.settings.batch_size,
        )
        self._claim_cursor = _text(result[0])
        return _entries(result[1])

    async def read_own_pending(self) -> list[Entry]:
        """What this consumer (by name) read before a restart and did not acknowledge."""
        response = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: "0"}, count=self.settings.batch_size
        )
        return _entries(response[0][1]) if response else []

    async def read_new(self) -> list[Entry]:
        response = await self.redis.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self.settings.batch_size,
            block=self.settings.block_milliseconds,
        )
        return _entries(response[0][1]) if response else []

    async def step(self) -> int:
        """One batch: this consumer's unacknowledged entries first (after a restart or
        a failed batch), then stale ones of others, else new ones. Returns entries handled."""
        entries: list[Entry] = []
        if self._redo_own:
            entries = await self.read_own_pending()
            self._redo_own = bool(entries)
        if not entries:
            entries = await self.claim_stale()
        if not entries:
            entries = await self.read_new()
        try:
            await self.handle(entries)
        except BaseException:
            self._redo_own = True
            raise
        return len(entries)

    async def run(self, stop: asyncio.Event) -> None:
        await self.ensure_group()
        while not stop.is_set():
            try:
                await self.step()
            except Exception:
                _log.exception("webhook dispatch failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)


async def run_webhooks(settings: Settings, stop: asyncio.Event) -> None:
    """The `webhooks` role's main loop."""
    if not settings.database.url or not settings.redis.url:
        raise ValueError("the webhooks dispatcher needs MAILY_DATABASE_URL and MAILY_REDIS_URL")
    engine = create_engine(settings.database.url, pool_size=2, max_overflow=2)
    redis = Redis.from_url(settings.redis.url)
    queue = JobQueue.from_url(settings.redis.url, settings)
    try:
        previous = current_queue()
    except RuntimeError:
        previous = None
    try:
        await queue.connect()
        set_current_queue(queue)  # the delivery jobs a batch queues go here
        dispatcher = StreamDispatcher(redis, create_sessionmaker(engine), settings)
        await dispatcher.run(stop)
    finally:
        # Under `maily up` other roles share this process's current queue.
        with contextlib.suppress(RuntimeError):
            if current_queue() is queue:
                set_current_queue(previous)
        await queue.disconnect()
        await redis.aclose()
        await engine.dispose()
