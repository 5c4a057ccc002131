"""`maily sender`: leases batches from the delivery ledger, composes, sends, records.

Any number of sender processes run side by side; the lease (UPDATE … FOR UPDATE SKIP
LOCKED) keeps them from ever holding the same row. One batch is:

1. lease up to `batch_size` due rows of sending campaigns (contacts re-checked:
   the unsendable are skipped in the same statement);
2. compose each message with the campaign's `PreparedCampaign`, compiled once per
   campaign and cached here until the campaign is edited;
3. hand the batch to the transport (from the lease until its answer, the lease is renewed);
4. record every outcome in one batched UPDATE (bounces suppress the address);
5. publish what changed on Redis for live progress.

Several batches are in flight at once (`concurrency`), so one is leased and composed
while another is with the transport. On stop, batches in flight finish and are
recorded; nothing new is leased."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import socket
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import perf_counter, time_ns
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from prometheus_client import Counter as MetricCounter
from prometheus_client import Histogram
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.campaigns.content import content_of
from maily.campaigns.engine import CampaignEngine
from maily.campaigns.progress import ProgressPublisher, state_queue
from maily.campaigns.repository import CampaignRepository
from maily.config import SenderSettings, Settings
from maily.delivery.composer import (
    CampaignContent,
    CampaignUnsendable,
    Composer,
    PreparedCampaign,
)
from maily.delivery.ledger import (
    DeliveryStatus,
    RetryPolicy,
    RowResult,
    failed_row,
    outcome_to_row,
)
from maily.delivery.parts import DeliveryParts, build_delivery_parts
from maily.delivery.repository import DeliveryRepository, Lease, LeasedRow, Recorded
from maily.delivery.transports.base import Outcome, OutgoingMessage, SendResult, Transport
from maily.kit.db import AsyncSession, create_engine, create_sessionmaker, transaction
from maily.kit.logging import get_logger
from maily.kit.ratelimit import RedisTokenBucket
from maily.kit.tracing import trace_parent

_log = get_logger("maily.delivery.sender")
# PostgreSQL's lock_not_available: lock_timeout ran out.
_LOCK_NOT_AVAILABLE = "55P03"
# Compiled campaigns kept per sender process.
PREPARED_CACHE_SIZE = 64

DELIVERIES_SETTLED: Final = MetricCounter(
    "maily_deliveries_settled",
    "Ledger rows a sender recorded, by the state they reached.",
    ["status"],
)
TRANSPORT_MESSAGES: Final = MetricCounter(
    "maily_transport_messages",
    "Messages handed to a transport, by transport and the outcome it answered "
    "(sent, deferred, bounced, failed, unknown); the base of send failure and bounce rates.",
    ["transport", "outcome"],
)
LEASES_TAKEN_BACK: Final = MetricCounter(
    "maily_ledger_leases_expired",
    "Ledger rows a sender took back because another sender's lease on them expired "
    "(that sender died or hung); each is attempted again.",
)
BATCH_DURATION: Final = Histogram(
    "maily_sender_batch_duration_seconds",
    "Time from leasing a batch to recording its outcomes.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def default_owner() -> str:
    """Who holds a lease: host, process and a random part (a restarted process with
    the same pid is a different owner)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class BatchReport:
    leased: int = 0
    skipped: int = 0
    # Final status of each recorded row -> how many.
    outcomes: Counter[str] = field(default_factory=Counter)
    failed_campaigns: list[uuid.UUID] = field(default_factory=list)


@dataclass
class _Prepared:
    content: CampaignContent
    prepared: PreparedCampaign
    winner: str | None
    # The trace of the request that started the campaign, which batch spans join.
    trace_parent: Context | None = None


def _current(spans: dict[uuid.UUID, trace.Span]) -> contextlib.AbstractContextManager[object]:
    if len(spans) == 1:
        return trace.use_span(next(iter(spans.values())), end_on_exit=False)
    return contextlib.nullcontext()


# What a message held back by a rate limit is recorded as: tried again later.
_RATE_LIMITED = SendResult(Outcome.deferred, detail="held back by a sending rate limit")


class Sender:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        composer: Composer,
        transport: Transport,
        settings: SenderSettings,
        *,
        publisher: ProgressPublisher | None = None,
        owner: str | None = None,
        rand: Callable[[], float] = random.random,
        buckets: RedisTokenBucket | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        # One span per batch and campaign, none per message; the process-wide
        # provider unless a test passes its own.
        self.tracer = trace.get_tracer("maily.delivery.sender", tracer_provider=tracer_provider)
        self.buckets = buckets
        self.composer = composer
        self.transport = transport
        self.settings = settings
        self.publisher = publisher or ProgressPublisher(None)
        self.owner = (owner or default_owner())[:64]
        self.rand = rand
        self.policy = RetryPolicy(
            base_seconds=settings.retry_base_seconds,
            cap_seconds=settings.retry_max_seconds,
            window_seconds=settings.retry_window_seconds,
        )
        self._prepared: dict[uuid.UUID, _Prepared] = {}
        # Ids of rows a batch of this sender is working on, from lease to record.
        self._held: set[uuid.UUID] = set()
        self._composing: ThreadPoolExecutor | None = None

    # -- one batch --------------------------------------------------------------------

    async def lease(self) -> Lease:
        async with transaction(self.sessionmaker) as session:
            lease = await DeliveryRepository(session).lease(
                self.owner, self.settings.batch_size, self.settings.lease_seconds, self._held
            )
        if lease.taken_back:
            LEASES_TAKEN_BACK.inc(lease.taken_back)
        return lease

    async def run_batch(self) -> BatchReport:
        """Lease one batch and see it through. Returns what happened (leased == 0 and
        skipped == 0: nothing was due)."""
        started = perf_counter()
        report = await self.deliver(await self.lease())
        if report.leased or report.skipped:
            BATCH_DURATION.observe(perf_counter() - started)
            for status, n in report.outcomes.items():
                DELIVERIES_SETTLED.labels(status=status).inc(n)
            if report.skipped:
                DELIVERIES_SETTLED.labels(status=DeliveryStatus.skipped.value).inc(report.skipped)
        return report

    async def deliver(self, lease: Lease) -> BatchReport:
        started = time_ns()
        report = BatchReport(leased=len(lease.rows), skipped=len(lease.skipped))
        recorded: list[Recorded] = []
        changes: dict[tuple[uuid.UUID, uuid.UUID], Counter[str]] = defaultdict(Counter)
        for key in lease.skipped:
            changes[key][DeliveryStatus.skipped] += 1
        if lease.rows:
            held = {r.delivery.id for r in lease.rows if r.delivery.id is not None}
            self._held |= held
            spans: dict[uuid.UUID, trace.Span] = {}
            try:
                async with self._holding(lease.rows):
                    prepared, unsendable = await self._prepare(lease.rows)
                    spans = self._batch_spans(lease.rows, prepared, started)
                    sendable = [r for r in lease.rows if r.delivery.campaign_id in prepared]
                    # A batch of one campaign (the usual case) is the current span, so
                    # the transport's and the database's spans nest under it.
                    with _current(spans):
                        results = await self._send(sendable, prepared)
                if unsendable:
                    report.failed_campaigns = await self._fail_campaigns(lease.rows, unsendable)
                with _current(spans):
                    async with transaction(self.sessionmaker) as session:
                        recorded = await DeliveryRepository(session).record(self.owner, results)
                if any(span.is_recording() for span in spans.values()):
                    settled = Counter((row.campaign_id, str(row.status)) for row in recorded)
                    for (campaign_id, status), n in settled.items():
                        if campaign_id in spans:
                            spans[campaign_id].set_attribute(f"maily.deliveries.{status}", n)
            except BaseException as exc:
                for span in spans.values():
                    span.record_exception(exc)
                    span.set_status(trace.StatusCode.ERROR, str(exc))
                raise
            finally:
                # Rows of a batch that failed here stay leased; once expired, any
                # sender (this one too) takes them back.
                self._held -= held
                for span in spans.values():
                    span.end()
            for row in recorded:
                changes[(row.workspace_id, row.campaign_id)][row.status] += 1
                report.outcomes[row.status] += 1
        for (workspace_id, campaign_id), counts in changes.items():
            await self.publisher.changed(workspace_id, campaign_id, counts)
        # After the live counters: a wait on a contact's row must not delay them.
        await self._touch_contacts(recorded)
        return report

    async def _touch_contacts(self, recorded: list[Recorded]) -> None:
        """The sent rows' contacts get their last send and count, after the outcomes
        are committed. Losing this (the database went away in between) costs a stale
        last_sent_at, never a second message, so it is logged and not retried."""
        sent = [
            (row.workspace_id, row.contact_id)
            for row in recorded
            if row.status == DeliveryStatus.sent
        ]
        if not sent:
            return
        for skip_locked in (False, True):
            try:
                async with transaction(self.sessionmaker) as session:
                    await DeliveryRepository(session).touch_contacts(sent, skip_locked=skip_locked)
                return
            except (SQLAlchemyError, OSError) as exc:
                orig = getattr(exc, "orig", None)
                if not skip_locked and getattr(orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                    continue  # a row held past the lock timeout: again without held rows
                _log.warning("contacts' last send not recorded", contacts=len(sent), error=str(exc))
                return

    def _batch_spans(
        self, rows: Sequence[LeasedRow], prepared: dict[uuid.UUID, _Prepared], started: int
    ) -> dict[uuid.UUID, trace.Span]:
        """A span for each campaign of the batch, from the lease to the record, in the
        trace of the request that started it (its context is read once, with the
        campaign's compiled content)."""
        spans = {}
        for campaign_id, entry in prepared.items():
            spans[campaign_id] = self.tracer.start_span(
                "sender.batch",
                context=entry.trace_parent,
                start_time=started,
                attributes={
                    "maily.workspace_id": str(entry.content.workspace_id),
                    "maily.campaign_id": str(campaign_id),
                    "maily.sender.owner": self.owner,
                    "maily.transport": self.transport.name,
                },
            )
        if any(span.is_recording() for span in spans.values()):
            # Counted only when traced: with tracing off, a batch costs no per-row work.
            for campaign_id, n in Counter(r.delivery.campaign_id for r in rows).items():
                if campaign_id in spans:
                    spans[campaign_id].set_attribute("maily.batch.rows", n)
        return spans

    @contextlib.asynccontextmanager
    async def _holding(self, rows: Sequence[LeasedRow]) -> AsyncIterator[None]:
        """Keep the lease of `rows` alive from leasing until they are sent: renewed
        every third of `lease_seconds`, so only a sender that stopped running loses
        them. Renewal ends before rows are released or recorded, so those updates
        never meet a renewal of the same rows (they would deadlock)."""
        keys = [(r.delivery.workspace_id, r.delivery.id) for r in rows if r.delivery.id is not None]
        done = asyncio.Event()
        renewing = asyncio.create_task(self._renew(keys, done)) if keys else None
        try:
            yield
        finally:
            done.set()
            if renewing is not None:
                await renewing

    async def _renew(self, keys: list[tuple[uuid.UUID, uuid.UUID]], done: asyncio.Event) -> None:
        interval = self.settings.lease_seconds / 3
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=interval)
            if done.is_set():
                return
            try:
                async with transaction(self.sessionmaker) as session:
                    await DeliveryRepository(session).extend(
                        self.owner, keys, self.settings.lease_seconds
                    )
            except Exception:
                # The next round tries again; only a lease left to expire costs a resend.
                _log.exception("could not renew a lease", rows=len(keys))

    async def _prepare(
        self, rows: Sequence[LeasedRow]
    ) -> tuple[dict[uuid.UUID, _Prepared], dict[uuid.UUID, str]]:
        """The batch's campaigns, compiled (or from the cache if unchanged)."""
        keys = sorted({(r.delivery.workspace_id, r.delivery.campaign_id) for r in rows})
        async with transaction(self.sessionmaker) as session:
            found = await CampaignRepository(session).with_postal_address(keys)
        prepared: dict[uuid.UUID, _Prepared] = {}
        unsendable: dict[uuid.UUID, str] = {}
        for campaign, postal_address in found:
            cached = self._prepared.get(campaign.id)
            if cached is None or cached.content.updated_at != campaign.updated_at:
                content = content_of(campaign, postal_address)
                try:
                    compiled = await self.composer.prepare(content)
                except CampaignUnsendable as exc:
                    unsendable[campaign.id] = str(exc) or "the content cannot be composed"
                    continue
                cached = self._prepared[campaign.id] = _Prepared(
                    content, compiled, None, trace_parent(campaign.trace_context)
                )
            cached.winner = campaign.ab_winner
            prepared[campaign.id] = cached
        if len(self._prepared) > PREPARED_CACHE_SIZE:
            # Finished campaigns stop appearing in batches: keep only this batch's.
            self._prepared = {k: v for k, v in self._prepared.items() if k in prepared}
        return prepared, unsendable

    async def _fail_campaigns(
        self, rows: Sequence[LeasedRow], reasons: dict[uuid.UUID, str]
    ) -> list[uuid.UUID]:
        """A campaign whose content cannot be prepared fails as a whole; its leased rows
        go back untouched rather than each failing on the same cause."""
        keys = [
            (r.delivery.workspace_id, r.delivery.id)
            for r in rows
            if r.delivery.campaign_id in reasons and r.delivery.id is not None
        ]
        failed = []
        async with transaction(self.sessionmaker) as session:
            await DeliveryRepository(session).release(self.owner, keys)
            engine = CampaignEngine(session)
            workspaces = {r.delivery.campaign_id: r.delivery.workspace_id for r in rows}
            for campaign_id, reason in reasons.items():
                if await engine.fail_by_id(workspaces[campaign_id], campaign_id, reason):
                    failed.append(campaign_id)
        for campaign_id in failed:
            _log.warning(
                "campaign failed", campaign_id=str(campaign_id), reason=reasons[campaign_id]
            )
            await self.publisher.status(
                workspaces[campaign_id], campaign_id, "failed", reason=reasons[campaign_id]
            )
        return failed

    def _compose_all(
        self, rows: Sequence[LeasedRow], prepared: dict[uuid.UUID, _Prepared]
    ) -> list[OutgoingMessage | str]:
        composed: list[OutgoingMessage | str] = []
        for row in rows:
            entry = prepared[row.delivery.campaign_id]
            delivery = row.delivery
            if delivery.variant is None and entry.winner is not None:
                # The held-back audience of an A/B test gets the winner.
                delivery = dataclasses.replace(delivery, variant=entry.winner)
            try:
                composed.append(entry.prepared.compose(delivery, row.contact))
            except Exception as exc:
                composed.append(f"the message could not be composed: {exc}")
        return composed

    async def _send(
        self, rows: Sequence[LeasedRow], prepared: dict[uuid.UUID, _Prepared]
    ) -> list[RowResult]:
        if not rows:
            return []
        # Rendering and signing are CPU work: off the event loop, so leases and other
        # batches' network I/O keep moving meanwhile. One composing thread per sender:
        # lanes compose in turn, since more threads only take turns at the GIL and
        # spend CPU doing so (the signature itself runs with the GIL released).
        composed = await asyncio.get_running_loop().run_in_executor(
            self._composing_thread(), self._compose_all, rows, prepared
        )
        messages = [m for m in composed if isinstance(m, OutgoingMessage)]
        allowed = await self._pace(messages)
        to_send = [m for m, ok in zip(messages, allowed, strict=True) if ok]
        try:
            handed = await self.transport.send(to_send) if to_send else []
        except Exception as exc:
            # The contract says send() does not raise; if it does, nothing says the
            # messages left, so they are retried like a refused connection.
            _log.exception("transport raised", transport=self.transport.name)
            handed = [SendResult(Outcome.deferred, detail=f"transport error: {exc}")] * len(to_send)
        for outcome, n in Counter(str(r.outcome) for r in handed).items():
            TRANSPORT_MESSAGES.labels(self.transport.name, outcome).inc(n)
        from_transport = iter(handed)
        sent = [next(from_transport) if ok else _RATE_LIMITED for ok in allowed]
        outcomes = iter(sent)
        now = datetime.now(UTC)
        results = []
        for row, message in zip(rows, composed, strict=True):
            delivery_id = row.delivery.id
            assert delivery_id is not None
            workspace_id = row.delivery.workspace_id
            if isinstance(message, str):
                results.append(
                    failed_row(workspace_id, delivery_id, message, status=DeliveryStatus.failed)
                )
                continue
            result = next(outcomes, None)
            if result is None:
                results.append(
                    failed_row(
                        workspace_id,
                        delivery_id,
                        "the transport reported no result for this message",
                        status=DeliveryStatus.unknown,
                    )
                )
                continue
            results.append(
                outcome_to_row(
                    workspace_id=workspace_id,
                    delivery_id=delivery_id,
                    attempts=row.delivery.attempts,
                    first_attempt_at=row.first_attempt_at,
                    result=result,
                    now=now,
                    policy=self.policy,
                    rand=self.rand,
                )
            )
        return results

    async def _pace(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        """Take the batch's tokens from the transport's and each workspace's bucket,
        waiting for them up to a quarter of the lease; which messages may go now (the
        rest are deferred, and come due again later)."""
        allowed = [True] * len(messages)
        if self.buckets is None or not messages:
            return allowed
        max_wait = self.settings.lease_seconds / 4
        waits = [0.0]
        rate = self.settings.transport_rate_per_second
        if rate is not None:
            count = len(messages)
            wait = await self.buckets.reserve(
                f"transport:{self.transport.name}", count, rate, max(rate, count), max_wait=max_wait
            )
            if wait is None:
                return [False] * len(messages)
            waits.append(wait)
        rate = self.settings.workspace_rate_per_second
        if rate is not None:
            for workspace_id, count in Counter(m.workspace_id for m in messages).items():
                wait = await self.buckets.reserve(
                    f"workspace:{workspace_id}", count, rate, max(rate, count), max_wait=max_wait
                )
                if wait is None:
                    allowed = [
                        ok and m.workspace_id != workspace_id
                        for ok, m in zip(allowed, messages, strict=True)
                    ]
                else:
                    waits.append(wait)
        if max(waits) > 0:
            await asyncio.sleep(max(waits))  # pacing to the rate, not synchronisation
        return allowed

    def _composing_thread(self) -> ThreadPoolExecutor:
        if self._composing is None:
            self._composing = ThreadPoolExecutor(1, thread_name_prefix="sender-compose")
        return self._composing

    # -- the loop ---------------------------------------------------------------------

    async def _lane(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                report = await self.run_batch()
                idle = report.leased == 0 and report.skipped == 0
            except Exception:
                _log.exception("sender batch failed")
                idle = True
            if idle:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.poll_interval_seconds)

    async def run(self, stop: asyncio.Event) -> None:
        """Run `concurrency` batch lanes until `stop` is set; in-flight batches finish."""
        _log.info(
            "sender started",
            owner=self.owner,
            transport=self.transport.name,
            batch_size=self.settings.batch_size,
            concurrency=self.settings.concurrency,
        )
        try:
            async with asyncio.TaskGroup() as group:
                for lane in range(self.settings.concurrency):
                    group.create_task(self._lane(stop), name=f"sender-lane-{lane}")
        finally:
            if self._composing is not None:
                self._composing.shutdown(wait=False)
                self._composing = None
        _log.info("sender stopped", owner=self.owner)


async def run_sender(
    settings: Settings, stop: asyncio.Event, *, parts: DeliveryParts | None = None
) -> None:
    """The `sender` role's main loop. `parts` defaults to `build_delivery_parts()`;
    without a composer and transport the role only waits, saying so."""
    if not settings.database.url:
        raise ValueError("the sender needs a database: set MAILY_DATABASE_URL")
    lanes = settings.sender.concurrency
    engine = create_engine(settings.database.url, pool_size=lanes + 1, max_overflow=lanes)
    redis = Redis.from_url(settings.redis.url) if settings.redis.url else None
    queue = await state_queue(settings)
    try:
        sessionmaker = create_sessionmaker(engine)
        parts = parts or await build_delivery_parts(settings, sessionmaker)
        if parts is None:
            _log.warning("no composer and transport are configured; the sender waits")
            await stop.wait()
            return
        sender = Sender(
            sessionmaker,
            parts.composer,
            parts.transport,
            settings.sender,
            publisher=ProgressPublisher(redis, queue, settings.analytics.live_channel_prefix),
            buckets=RedisTokenBucket(redis, "maily:send-rate") if redis is not None else None,
        )
        try:
            await sender.run(stop)
        finally:
            await parts.transport.aclose()
    finally:
        if queue is not None:
            await queue.disconnect()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
