"""`maily scheduler`: moves campaigns along, one active instance at a time.

Leadership is a session-level PostgreSQL advisory lock held on a dedicated connection:
any number of schedulers may run, one holds the lock and acts, the others try again
every tick. When the holder dies its connection closes, the lock goes with it, and
the next tick of another instance takes over. Each tick, in its own transactions:

1. due scheduled campaigns go to sending, their delivery ledger materialised;
2. A/B tests whose waiting time is over get their winner, releasing the rest;
3. sending campaigns whose every delivery is final are marked sent;
4. bounce and provider events still held in PostgreSQL (Redis did not take them when
   they were recorded) are appended to the event stream (`maily.analytics.relay`).

Timezone waves need no tick: each row's send_after holds its wave, and senders only
lease due rows. Expired leases need none either: the senders' lease query takes them
back (delivery/repository.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, TypeVar

from opentelemetry import trace
from prometheus_client import Gauge
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from maily.analytics.relay import EventRelay
from maily.campaigns.engine import CampaignEngine
from maily.campaigns.progress import ProgressPublisher, state_queue
from maily.campaigns.repository import CampaignRepository
from maily.config import SchedulerSettings, Settings
from maily.kit.db import AsyncSession, create_engine, create_sessionmaker, transaction
from maily.kit.logging import get_logger
from maily.ops.backlog import BacklogSampler

# The advisory lock key all schedulers of a database compete for ("maily" + 1).
LEADER_LOCK_KEY = 0x6D61696C7901

_log = get_logger("maily.campaigns.scheduler")
SCHEDULER_ACTIVE: Final = Gauge(
    "maily_scheduler_active",
    "1 while this scheduler holds the leader lock and acts, 0 while it stands by.",
)
T = TypeVar("T")
Key = tuple[uuid.UUID, uuid.UUID]


@dataclass
class TickReport:
    started: list[uuid.UUID] = field(default_factory=list)
    decided: dict[uuid.UUID, str] = field(default_factory=dict)
    finished: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    relayed_events: int = 0


class Scheduler:
    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: SchedulerSettings,
        publisher: ProgressPublisher | None = None,
        *,
        relay: EventRelay | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.engine = engine
        self.relay = relay
        # Spans of each move join the trace of the request that started the campaign
        # (engine.py); the process-wide provider unless a test passes its own.
        self.tracer = trace.get_tracer("maily.campaigns", tracer_provider=tracer_provider)
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.publisher = publisher or ProgressPublisher(None)
        self._lock: AsyncConnection | None = None

    @property
    def is_leader(self) -> bool:
        return self._lock is not None

    async def lock_backend_pid(self) -> int | None:
        """The PostgreSQL backend holding the lock for this instance (for operators)."""
        if self._lock is None:
            return None
        return int((await self._lock.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    async def _lost(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(Exception):
                await self._lock.invalidate()
            with contextlib.suppress(Exception):
                await self._lock.close()
        self._lock = None
        SCHEDULER_ACTIVE.set(0)

    async def try_lead(self) -> bool:
        """Hold the lock, or take it if nobody does. Checks a held lock's connection
        is still alive: if it died, so did the lock, and leadership is lost."""
        if self._lock is not None:
            try:
                await self._lock.execute(text("SELECT 1"))
                return True
            except (DBAPIError, InterfaceError, OperationalError, OSError):
                _log.warning("scheduler lost its lock connection; no longer active")
                await self._lost()
        conn = await self.engine.connect()
        try:
            # Autocommit: a session-level lock, and no transaction left idle for hours.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = (
                await conn.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}
                )
            ).scalar_one()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._lock = conn
        SCHEDULER_ACTIVE.set(1)
        _log.info("scheduler is the active instance")
        return True

    async def release(self) -> None:
        if self._lock is None:
            return
        with contextlib.suppress(Exception):
            await self._lock.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK_KEY}
            )
        with contextlib.suppress(Exception):
            await self._lock.close()
        self._lock = None
        SCHEDULER_ACTIVE.set(0)

    async def _each(
        self, keys: list[Key], step: Callable[[CampaignEngine, Key], Awaitable[T]]
    ) -> list[tuple[Key, T]]:
        """Run `step` for each campaign in its own transaction; one campaign's error is
        logged and does not hold up the others."""
        done = []
        for key in keys:
            try:
                async with transaction(self.sessionmaker) as session:
                    done.append((key, await step(CampaignEngine(session, self.tracer), key)))
            except Exception:
                _log.exception("scheduler step failed", campaign_id=str(key[1]))
        return done

    async def _keys(self, read: Callable[[CampaignRepository], Awaitable[list[Key]]]) -> list[Key]:
        async with transaction(self.sessionmaker) as session:
            return await read(CampaignRepository(session))

    async def tick(self) -> TickReport | None:
        """One round of work; None when another instance is the active one."""
        if not await self.try_lead():
            return None
        report = TickReport()
        due = await self._keys(lambda r: r.due(self.settings.campaigns_per_tick))
        for key, campaign in await self._each(due, lambda e, k: e.begin(*k)):
            if campaign is None:
                continue
            (report.started if campaign.status == "sending" else report.failed).append(key[1])
            await self.publisher.status(
                key[0], key[1], campaign.status, reason=campaign.failure_reason
            )
        undecided = await self._keys(lambda r: r.ab_undecided())
        for key, winner in await self._each(undecided, lambda e, k: e.decide(*k)):
            if winner is not None:
                report.decided[key[1]] = winner
        sending = await self._keys(lambda r: r.sending())
        for key, finished in await self._each(sending, lambda e, k: e.finish_if_done(*k)):
            if finished:
                report.finished.append(key[1])
                await self.publisher.status(key[0], key[1], "sent")
        if self.relay is not None:
            try:
                report.relayed_events = await self.relay.sweep()
            except Exception:
                _log.exception("held events not relayed; the next tick tries again")
        if (
            report.started
            or report.decided
            or report.finished
            or report.failed
            or report.relayed_events
        ):
            _log.info(
                "scheduler tick",
                started=len(report.started),
                decided=len(report.decided),
                finished=len(report.finished),
                failed=len(report.failed),
                relayed_events=report.relayed_events,
            )
        return report

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except Exception:
                    _log.exception("scheduler tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.interval_seconds)
        finally:
            await self.release()


async def run_scheduler(settings: Settings, stop: asyncio.Event) -> None:
    """The `scheduler` role's main loop."""
    if not settings.database.url:
        raise ValueError("the scheduler needs a database: set MAILY_DATABASE_URL")
    # One connection holds the lock, the others do the work.
    engine = create_engine(settings.database.url, pool_size=3, max_overflow=2)
    redis = Redis.from_url(settings.redis.url) if settings.redis.url else None
    queue = await state_queue(settings)
    try:
        publisher = ProgressPublisher(redis, queue, settings.analytics.live_channel_prefix)
        sessionmaker = create_sessionmaker(engine)
        relay = (
            EventRelay(sessionmaker, redis, settings.analytics.stream_key)
            if redis is not None
            else None
        )
        scheduler = Scheduler(engine, sessionmaker, settings.scheduler, publisher, relay=relay)
        # The active instance also samples the backlog gauges (ledger, stream, queue).
        sampler = BacklogSampler(
            engine,
            redis=redis,
            stream_keys=[settings.analytics.stream_key] if redis is not None else [],
            queue_name=settings.queue.name,
            queue_depth=queue.depth if queue is not None else None,
        )
        sampling = asyncio.create_task(sampler.run(stop, lambda: scheduler.is_leader))
        try:
            await scheduler.run(stop)
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
            BacklogSampler.clear()
    finally:
        if queue is not None:
            await queue.disconnect()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
