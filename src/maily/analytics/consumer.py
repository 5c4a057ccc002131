"""`maily analytics`: the event stream's consumer in group `analytics`.

One batch of entries (new ones, or ones left by a dead consumer) is one transaction:
resolve the deliveries they name, store the events (once per entry), tally what the new
ones add to the rollups, the ledger's first opens and clicks and the contacts, apply
unsubscribes, let the deliverability guard judge; commit; then acknowledge. A crash
anywhere before the acknowledgement means the entries are read again, and storing an
event keyed by its entry id makes the second pass add nothing. After the commit the
service publishes live counters (and pauses) and trims the stream below what every
consumer group has acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.analytics import metrics
from maily.analytics.guard import GuardRules, Paused, enforce
from maily.analytics.machines import TimingRules, bursts, classify
from maily.analytics.notices import notice_sender, notify_owners
from maily.analytics.repository import AnalyticsRepository, event_time
from maily.analytics.stream import (
    ANALYTICS_GROUP,
    WEBHOOKS_GROUP,
    EventKind,
    StreamFormatError,
    TrackingEvent,
    UnsubscribeChannel,
    decode_event,
    live_channel,
)
from maily.analytics.tally import CampaignKey, Incoming, Tally, tally
from maily.campaigns.progress import state_queue
from maily.config import AnalyticsSettings, Settings
from maily.contacts import subscriptions
from maily.delivery.transports.base import Transport
from maily.kit.db import AsyncSession, transaction
from maily.kit.logging import get_logger
from maily.kit.queue import JobQueue
from maily.models import Contact
from maily.webhooks.campaign_states import STATE_TASK, state_job_kwargs

_log = get_logger("maily.analytics")

# Groups whose unacknowledged entries the stream must keep; a missing one is ignored.
TRIM_GROUPS = (ANALYTICS_GROUP, WEBHOOKS_GROUP)
# How long to wait before trying again after Redis or PostgreSQL failed a batch.
RETRY_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0
# Failed batches in a row, with an error about the data, before the next one goes entry
# by entry to find the entry PostgreSQL refuses.
POISON_AFTER = 3
# How soon entries left for a locked delivery row are tried again.
DEFER_SECONDS = 0.05
# The range an event's fields must fit to be stored (timestamps Python can represent,
# link indexes PostgreSQL's integer can hold).
_MAX_LINK_INDEX = 2**31 - 1

_CHANNELS: dict[UnsubscribeChannel, subscriptions.Channel] = {
    UnsubscribeChannel.one_click: "one_click",
    UnsubscribeChannel.link: "link",
    UnsubscribeChannel.preferences: "preference_center",
    UnsubscribeChannel.mailto: "mailto",
}

Entry = tuple[str, dict[Any, Any] | None]

_WITH_PRIORS = frozenset(
    {EventKind.click, EventKind.bounce, EventKind.complaint, EventKind.delivered}
)


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _stream_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return (int(ms), int(seq or 0))


def _unstorable(exc: BaseException) -> bool:
    """An error about the data (SQLSTATE class 22, data exception, or 23, integrity
    constraint), not about the connection, a lock or the SQL itself: trying the same
    entry again would fail the same way, and no other entry would."""
    if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
        return False
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or ""
    return str(state)[:2] in ("22", "23")


def _storable(event: TrackingEvent) -> tuple[TrackingEvent, datetime]:
    """The event and its time, if PostgreSQL can store it; otherwise StreamFormatError
    (an entry that fails the batch every time would stop the stream)."""
    try:
        at = event_time(event.at_ms)
    except (ValueError, OverflowError, OSError) as exc:
        raise StreamFormatError(f"event time out of range: {event.at_ms}") from exc
    if event.link_index is not None and not 0 <= event.link_index <= _MAX_LINK_INDEX:
        raise StreamFormatError(f"link index out of range: {event.link_index}")
    return event, at


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class BatchReport:
    entries: int = 0
    stored: int = 0
    duplicates: int = 0
    unknown: int = 0
    undecodable: int = 0
    # Entries left unacknowledged for the next pass: their delivery row was locked.
    deferred: set[str] = field(default_factory=set)
    paused: list[Paused] = field(default_factory=list)


class AnalyticsConsumer:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
        *,
        transport: Transport | None = None,
        name: str | None = None,
        queue: JobQueue | None = None,
    ) -> None:
        self.settings = settings
        # Where the `campaign.state_changed` webhooks of guard pauses are queued.
        self.queue = queue
        self.config: AnalyticsSettings = settings.analytics
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.transport = transport
        self.name = name or self.config.consumer_name or default_consumer_name()
        self.stream = self.config.stream_key
        self.timing = TimingRules(
            prefetch_open=timedelta(seconds=self.config.prefetch_open_seconds),
            scanner_click=timedelta(seconds=self.config.scanner_click_seconds),
            scanner_burst=timedelta(seconds=self.config.scanner_burst_seconds),
        )
        self.guard = GuardRules(
            complaint_rate=self.config.complaint_rate_threshold,
            bounce_rate=self.config.bounce_rate_threshold,
            min_sent=self.config.guard_min_sent,
        )
        # Entries read but not acknowledged by this consumer (a batch that failed, or
        # a restart under the same name) are read again before new ones.
        self._backlog = True
        self._backlog_after = 0.0
        # Consecutive failed batches; past POISON_AFTER, the next one goes entry by entry.
        self._failures = 0
        self._isolate = False
        self._next_claim = 0.0
        self._next_trim = 0.0

    # -- the loop -----------------------------------------------------------------------

    async def ensure_group(self) -> None:
        """Create the group (and the stream) if missing, reading from the stream's start
        so events appended before the service first ran are counted too."""
        try:
            await self.redis.xgroup_create(self.stream, ANALYTICS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        _log.info("analytics consumer started", consumer=self.name, stream=self.stream)
        delay = RETRY_SECONDS
        group_ready = False
        while not stop.is_set():
            try:
                if not group_ready:
                    await self.ensure_group()
                    group_ready = True
                await self.step()
                delay = RETRY_SECONDS
                self._failures = 0
            except Exception as exc:
                # Nothing was acknowledged: the batch is read again once the stores answer.
                # Anything else failing is logged in full and retried the same way, so one
                # bad batch neither loses events nor stops the other roles of `maily up`.
                metrics.BATCH_FAILURES.inc()
                self._backlog = True
                group_ready = group_ready and not isinstance(exc, ResponseError)
                self._failures += 1
                if self._failures >= POISON_AFTER and _unstorable(exc):
                    self._isolate = True
                if isinstance(exc, RedisError | OSError | DBAPIError):
                    _log.warning("analytics batch failed; retrying", error=str(exc)[:500])
                else:
                    _log.exception("analytics batch failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        _log.info("analytics consumer stopped", consumer=self.name)

    async def step(self) -> BatchReport | None:
        """One turn of the loop: a batch from the backlog, the dead, or the stream."""
        now = time.monotonic()
        entries: list[Entry]
        if self._backlog and now >= self._backlog_after:
            entries = await self._read("0", block=None)
            if not entries:
                self._backlog = False
                return None
            if self._isolate:
                return await self._one_by_one(entries)
        elif now >= self._next_claim:
            self._next_claim = now + self.config.claim_interval_seconds
            entries = await self.claim()
            if not entries:
                return None
        else:
            block = self.config.block_ms
            if self._backlog:  # deferred entries are due again soon: new ones meanwhile
                block = max(1, min(block, int((self._backlog_after - now) * 1000)))
            entries = await self._read(">", block=block)
        report = await self.process(entries) if entries else None
        if time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + self.config.trim_interval_seconds
            await self.trim()
        return report

    async def _one_by_one(self, entries: Sequence[Entry]) -> BatchReport:
        """A batch that failed POISON_AFTER times in a row with an error PostgreSQL gave
        about the data, again entry by entry: an entry it refuses every time is logged,
        counted and acknowledged, so it can't hold the stream up; the rest are stored."""
        total = BatchReport(entries=len(entries))
        for entry in entries:
            try:
                report = await self.process([entry])
            except DBAPIError as exc:
                if not _unstorable(exc):
                    raise
                _log.error(
                    "event entry PostgreSQL refuses acknowledged unstored",
                    entry=entry[0],
                    error=str(exc)[:500],
                )
                metrics.ENTRIES_DROPPED.labels(reason="unstorable").inc()
                await self.redis.xack(self.stream, ANALYTICS_GROUP, entry[0])
                continue
            total.stored += report.stored
            total.duplicates += report.duplicates
            total.unknown += report.unknown
            total.undecodable += report.undecodable
            total.deferred |= report.deferred
            total.paused += report.paused
        self._isolate = False
        return total

    async def _read(self, start: str, block: int | None) -> list[Entry]:
        answer = await self.redis.xreadgroup(
            ANALYTICS_GROUP,
            self.name,
            {self.stream: start},
            count=self.config.batch_size,
            block=block,
        )
        entries: list[Entry] = []
        for _stream, items in answer or []:
            entries += [(_str(entry_id), fields) for entry_id, fields in items]
        return entries

    async def claim(self) -> list[Entry]:
        """Entries another consumer read and left unacknowledged for longer than
        `claim_idle_seconds`: it died, so this one takes them over."""
        claimed: list[Entry] = []
        start = "0-0"
        idle_ms = int(self.config.claim_idle_seconds * 1000)
        while len(claimed) < self.config.batch_size:
            answer = await self.redis.xautoclaim(
                self.stream,
                ANALYTICS_GROUP,
                self.name,
                min_idle_time=idle_ms,
                start_id=start,
                count=self.config.batch_size - len(claimed),
            )
            start = _str(answer[0])
            claimed += [(_str(entry_id), fields) for entry_id, fields in answer[1]]
            if start == "0-0":
                break
        if claimed:
            metrics.ENTRIES_CLAIMED.inc(len(claimed))
            _log.info("claimed entries of a stopped consumer", entries=len(claimed))
        return claimed

    # -- one batch ----------------------------------------------------------------------

    async def process(self, entries: Sequence[Entry]) -> BatchReport:
        started = time.perf_counter()
        report = BatchReport(entries=len(entries))
        decoded: list[tuple[str, TrackingEvent, datetime]] = []
        for entry_id, fields in entries:
            try:
                if not fields:
                    raise StreamFormatError("the entry has no fields (deleted)")
                decoded.append((entry_id, *_storable(decode_event(fields))))
            except StreamFormatError as exc:
                report.undecodable += 1
                _log.warning("undecodable event entry acknowledged", entry=entry_id, error=str(exc))
        progress: dict[CampaignKey, dict[str, int]] = {}
        async with transaction(self.sessionmaker) as session:
            result = await self._store(session, decoded, report)
            if result is not None:
                repo = AnalyticsRepository(session)
                totals = await repo.totals(result.touched)
                progress = {key: totals[key] for key in result.touched if key in totals}
                if result.judged:
                    report.paused = await enforce(session, result.judged, totals, self.guard)
        # Only now, with the batch committed, may the stream forget the entries.
        done = [entry_id for entry_id, _ in entries if entry_id not in report.deferred]
        if done:
            await self.redis.xack(self.stream, ANALYTICS_GROUP, *done)
        if report.deferred:
            self._backlog = True
            self._backlog_after = time.monotonic() + DEFER_SECONDS
            metrics.ENTRIES_DEFERRED.inc(len(report.deferred))
        metrics.ENTRIES_DROPPED.labels(reason="undecodable").inc(report.undecodable)
        metrics.ENTRIES_DROPPED.labels(reason="unknown_delivery").inc(report.unknown)
        metrics.ENTRIES_DROPPED.labels(reason="duplicate").inc(report.duplicates)
        metrics.BATCH_DURATION.observe(time.perf_counter() - started)
        await self._after_commit(progress, report.paused)
        return report

    async def _store(
        self,
        session: AsyncSession,
        decoded: Sequence[tuple[str, TrackingEvent, datetime]],
        report: BatchReport,
    ) -> Tally | None:
        if not decoded:
            return None
        repo = AnalyticsRepository(session)
        named = {event.delivery_id for _, event, _ in decoded}
        contexts = await repo.resolve(named)
        missing = named - contexts.keys()
        busy = await repo.existing(missing) if missing else set()
        items: list[Incoming] = []
        for entry_id, event, at in decoded:
            context = contexts.get(event.delivery_id)
            if event.delivery_id in busy:
                # Its row is locked by another transaction: this entry stays pending
                # and is read again on the next pass.
                report.deferred.add(entry_id)
                continue
            if context is None:
                report.unknown += 1
                _log.warning(
                    "event for an unknown delivery acknowledged",
                    entry=entry_id,
                    delivery_id=event.delivery_id.hex,
                )
                continue
            items.append(Incoming(entry_id, event, at, context))
        # What is stored about each click, bounce, complaint or delivery notice's message.
        others = [item for item in items if item.event.kind in _WITH_PRIORS]
        priors = await repo.priors(others, self.timing.scanner_burst)
        for position, item in enumerate(others):
            item.prior = priors.get(position, item.prior)
        self._classify(items)
        new_ids = await repo.store_events(items)
        new = [item for item in items if item.stream_id in new_ids]
        report.stored = len(new)
        report.duplicates = len(items) - len(new)
        result = tally(new)
        for item in result.unsubscribes:
            if await self._unsubscribe(session, item):
                result.add_unsubscribed(item)
        await repo.apply(result)
        for kind, count in result.stored.items():
            metrics.EVENTS_INGESTED.labels(kind=kind).inc(count)
        return result

    def _classify(self, items: Sequence[Incoming]) -> None:
        """Flag machines' opens and clicks by their timing (or keep the ingest flag)."""
        clicks: dict[uuid.UUID, list[tuple[int, int | None, Any]]] = {}
        for position, item in enumerate(items):
            if item.event.kind is EventKind.click:
                clicks.setdefault(item.context.delivery_id, []).append(
                    (position, item.event.link_index, item.at)
                )
        in_burst: set[int] = set()
        for group in clicks.values():
            if len(group) > 1:
                in_burst |= bursts(group, self.timing.scanner_burst)
        for position, item in enumerate(items):
            item.machine = classify(
                item.event,
                item.at,
                item.context.sent_at,
                self.timing,
                in_burst=position in in_burst or item.prior.burst,
            )

    async def _unsubscribe(self, session: AsyncSession, item: Incoming) -> bool:
        """Apply an unsubscribe through the consent rules; whether anything changed."""
        event, context = item.event, item.context
        contact = await session.get(
            Contact,
            (context.workspace_id, context.contact_id),
            with_for_update=True,
            populate_existing=True,
        )
        if contact is None:
            return False
        channel = _CHANNELS.get(event.channel or UnsubscribeChannel.link, "link")
        changed = False
        for list_id in event.lists or (None,):
            changed |= await subscriptions.unsubscribe(
                session,
                workspace_id=context.workspace_id,
                contact=contact,
                list_id=list_id,
                channel=channel,
                reason=event.reason or None,
                ip=event.ip or None,
                user_agent=event.user_agent or None,
            )
        return changed

    # -- after commit -------------------------------------------------------------------

    async def _queue_state_webhooks(self, item: Paused) -> None:
        """The pause's `campaign.state_changed` webhooks (published live above already)."""
        if self.queue is None:
            return
        key, kwargs = state_job_kwargs(
            item.workspace_id,
            item.campaign_id,
            "paused",
            previous="sending",
            reason=item.verdict.reason,
        )
        try:
            await self.queue.enqueue(STATE_TASK, key=key, publish=False, **kwargs)
        except (RedisError, OSError) as exc:
            _log.warning("campaign state webhooks not queued", error=str(exc))

    async def _after_commit(
        self, progress: dict[CampaignKey, dict[str, int]], paused: Sequence[Paused]
    ) -> None:
        """Live counters and pause notices: best effort, the batch is committed."""
        prefix = self.config.live_channel_prefix
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for (workspace_id, campaign_id), counters in sorted(progress.items()):
                    pipe.publish(
                        live_channel(prefix, workspace_id),
                        json.dumps(
                            {
                                "type": "campaign.progress",
                                "campaign_id": str(campaign_id),
                                "counters": counters,
                            }
                        ),
                    )
                for item in paused:
                    pipe.publish(
                        live_channel(prefix, item.workspace_id),
                        json.dumps(
                            {
                                "type": "campaign.state",
                                "campaign_id": str(item.campaign_id),
                                "state": "paused",
                                "reason": item.verdict.reason,
                            }
                        ),
                    )
                await pipe.execute()
        except RedisError as exc:
            _log.warning("live counters not published", error=str(exc))
        for item in paused:
            await self._queue_state_webhooks(item)
            metrics.CAMPAIGNS_PAUSED.labels(rate=item.verdict.rate).inc()
            _log.warning(
                "campaign paused by the deliverability guard",
                workspace_id=str(item.workspace_id),
                campaign_id=str(item.campaign_id),
                reason=item.verdict.reason,
            )
            if self.transport is not None:
                await notify_owners(
                    self.transport,
                    item,
                    notice_sender(self.settings),
                    self.settings.api.external_url,
                )

    # -- trimming -----------------------------------------------------------------------

    async def trim(self) -> int:
        """Drop entries every consumer group has acknowledged: below the oldest one a
        group still has pending, or has not read yet. Also reports the lag."""
        try:
            groups = await self.redis.xinfo_groups(self.stream)
        except ResponseError:
            return 0  # no stream yet
        floor: tuple[int, int] | None = None
        floor_id = ""
        for group in groups:
            info = {_str(k): v for k, v in group.items()}
            name = _str(info["name"])
            if name not in TRIM_GROUPS:
                continue
            if name == ANALYTICS_GROUP:
                lag = info.get("lag")
                if lag is not None:
                    metrics.CONSUMER_LAG.set(int(lag))
                metrics.CONSUMER_PENDING.set(int(info.get("pending") or 0))
            keep = _str(info["last-delivered-id"])
            if int(info.get("pending") or 0):
                summary = await self.redis.xpending(self.stream, name)
                if summary.get("min"):
                    keep = _str(summary["min"])
            if floor is None or _stream_key(keep) < floor:
                floor, floor_id = _stream_key(keep), keep
        await self._forget_stopped_consumers()
        if floor is None or floor == (0, 0):
            return 0
        return int(await self.redis.xtrim(self.stream, minid=floor_id, approximate=False))

    async def _forget_stopped_consumers(self) -> None:
        """Every process joins under a name of its own, so restarts leave names behind:
        drop those with nothing pending that have not read for a while (a live one
        with nothing pending loses nothing: its next read adds it again)."""
        idle_ms = int(self.config.claim_idle_seconds * 1000) * 10
        for consumer in await self.redis.xinfo_consumers(self.stream, ANALYTICS_GROUP):
            info = {_str(k): v for k, v in consumer.items()}
            name = _str(info["name"])
            if name != self.name and not int(info["pending"]) and int(info["idle"]) > idle_ms:
                await self.redis.xgroup_delconsumer(self.stream, ANALYTICS_GROUP, name)


async def run_analytics(settings: Settings, stop: asyncio.Event) -> None:
    """The `maily analytics` role: consume until told to stop."""
    from maily.delivery.transports.factory import transport_from_settings
    from maily.kit.db import create_engine, create_sessionmaker

    assert settings.database.url
    assert settings.redis.url
    engine = create_engine(settings.database.url, pool_size=2, max_overflow=0)
    redis = Redis.from_url(settings.redis.url)
    sessionmaker = create_sessionmaker(engine)
    transport = transport_from_settings(settings, sessionmaker=sessionmaker)
    queue = await state_queue(settings)
    try:
        consumer = AnalyticsConsumer(
            settings, sessionmaker, redis, transport=transport, queue=queue
        )
        await consumer.run(stop)
    finally:
        if queue is not None:
            await queue.disconnect()
        await transport.aclose()
        await redis.aclose()
        await engine.dispose()
