"""Events whose facts PostgreSQL holds reach the event stream exactly once.

A bounce, complaint or provider report is recorded in PostgreSQL; its stream event
(what reports, the deliverability guard and outbound webhooks read) must not be lost
when Redis fails after that commit. So the event is written to `pending_events` in
the same transaction (`hold_events`), and appended afterwards (`EventRelay`): right
after the commit by the code that recorded it, and again every scheduler tick for
anything that is still held (Redis was down, the process died in between).

Appending and forgetting are two stores, so each held event carries a marker key in
Redis, set in the same script that appends it: `SET marker NX` then `XADD`, both or
neither. A relay that appended an event but could not delete its row finds the marker
next time and only deletes. Rows are taken `FOR UPDATE SKIP LOCKED`, so the recorder's
own relay and a scheduler's never append the same row at once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from prometheus_client import Gauge
from redis.exceptions import RedisError
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.analytics.stream import (
    EVENTS_APPENDED,
    EVENTS_NOT_APPENDED,
    TrackingEvent,
    encode_event,
)
from maily.kit.db import AsyncSession, transaction
from maily.kit.db.base import new_uuid
from maily.kit.logging import get_logger
from maily.models import PendingEvent

__all__ = ["MARKER_PREFIX", "EventRelay", "HeldEvents", "hold_events"]

_log = get_logger("maily.analytics.relay")

EVENTS_HELD: Final = Gauge(
    "maily_events_held",
    "Events recorded in PostgreSQL still waiting in pending_events for the event stream "
    "after the active scheduler's last sweep (Redis did not take them).",
)

MARKER_PREFIX: Final = "maily:events:relayed:"
# Longer than any outage a held event waits out before a relay appends it.
MARKER_TTL_SECONDS: Final = 7 * 24 * 3600
# The scheduler's sweep leaves younger rows to the relay of the code that held them.
SWEEP_AFTER: Final = timedelta(seconds=10)

# KEYS: the stream, then one marker per event. ARGV: the markers' time to live, then
# for each event its number of field/value arguments and those arguments. Returns,
# per event, its new stream id, or false when its marker was already set.
_RELAY_SCRIPT: Final = """
local ttl = ARGV[1]
local ids = {}
local i = 2
local n = #ARGV
local k = 2
while i <= n do
  local count = tonumber(ARGV[i])
  if redis.call('SET', KEYS[k], '1', 'NX', 'EX', ttl) then
    ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + count))
  else
    ids[#ids + 1] = false
  end
  i = i + count + 1
  k = k + 1
end
return ids
"""


@dataclass
class HeldEvents:
    ids: list[uuid.UUID] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


async def hold_events(session: AsyncSession, events: Sequence[TrackingEvent]) -> HeldEvents:
    """Write `events` to `pending_events` in the session's transaction."""
    held = HeldEvents()
    rows = []
    for event in events:
        held.ids.append(new_uuid())
        held.kinds.append(event.kind.value)
        rows.append({"id": held.ids[-1], "fields": encode_event(event)})
    if rows:
        await session.execute(insert(PendingEvent), rows)
    return held


class EventRelay:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Any,
        stream_key: str,
        *,
        batch_size: int = 500,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.stream_key = stream_key
        self.batch_size = batch_size
        self._script = redis.register_script(_RELAY_SCRIPT)

    async def relay(
        self, ids: Sequence[uuid.UUID] | None = None, *, older_than: timedelta | None = None
    ) -> tuple[int, int]:
        """Append one batch of held events (those of `ids`, or any held longer than
        `older_than`) and delete their rows, in one transaction: if Redis or
        PostgreSQL fails, the rows stay for the next try. Returns the rows taken and
        the events appended (fewer when a marker says an earlier try appended one)."""
        query = (
            select(PendingEvent.id, PendingEvent.fields)
            .order_by(PendingEvent.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        if ids is not None:
            query = query.where(PendingEvent.id.in_(ids))
        if older_than is not None:
            query = query.where(PendingEvent.created_at < func.now() - older_than)
        async with transaction(self.sessionmaker) as session:
            rows = (await session.execute(query)).all()
            if not rows:
                return 0, 0
            replies = await self._append(rows)
            await session.execute(
                delete(PendingEvent).where(PendingEvent.id.in_([row.id for row in rows]))
            )
        kinds = Counter(
            str(row.fields.get("k", ""))
            for row, reply in zip(rows, replies, strict=True)
            if reply is not None
        )
        for kind, count in kinds.items():
            EVENTS_APPENDED.labels(kind).inc(count)
        return len(rows), kinds.total()

    async def _append(self, rows: Sequence[Any]) -> list[Any]:
        keys = [self.stream_key, *(MARKER_PREFIX + row.id.hex for row in rows)]
        arguments: list[str | int] = [MARKER_TTL_SECONDS]
        for row in rows:
            arguments.append(2 * len(row.fields))
            for name, value in row.fields.items():
                arguments += [name, value]
        return list(await self._script(keys=keys, args=arguments))

    async def relay_committed(self, held: HeldEvents, **context: Any) -> bool:
        """The recorder's relay, right after its commit. A failure leaves the events
        held for the scheduler's sweep; it is counted by kind
        (`maily_events_not_appended`) and logged with `context`, not raised: the facts
        are committed. False when the events are still held."""
        if not held.ids:
            return True
        try:
            await self.relay(held.ids)
        except (RedisError, OSError) as exc:
            for kind, count in Counter(held.kinds).items():
                EVENTS_NOT_APPENDED.labels(kind).inc(count)
            _log.warning(
                "events held until the event stream answers",
                events=len(held.ids),
                error=str(exc),
                **context,
            )
            return False
        return True

    async def sweep(self) -> int:
        """Append everything held for longer than SWEEP_AFTER, batch by batch; then
        publish how many events are still held (`maily_events_held`). Events appended."""
        total = 0
        try:
            while True:
                taken, appended = await self.relay(older_than=SWEEP_AFTER)
                total += appended
                if taken < self.batch_size:
                    break
        finally:
            async with self.sessionmaker() as session:
                held = await session.scalar(select(func.count()).select_from(PendingEvent))
            EVENTS_HELD.set(held or 0)
        return total
