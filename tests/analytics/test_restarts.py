"""`maily analytics` and Redis restarted during a stream of events: none is lost and
none is counted twice.

Three processes besides this test: a redis-server with persistence on
(`--appendonly yes --appendfsync always`, on a port of this test slot), one
`maily analytics` at a time, and PostgreSQL. The test appends events while the
consumer works, kills the consumer with SIGKILL at several points (a fresh one takes
over the dead one's unacknowledged entries) and kills and restarts Redis at others
(the running consumer reconnects and re-reads what it had not acknowledged). Then the
stored events and rollups are compared with what was appended."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from maily.analytics.stream import (
    EventKind,
    MachineReason,
    TrackingEvent,
    append_events,
)
from tests.analytics.support import LINKS, AnalyticsWorld, caught_up, ms, wait_for
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_SECRET_KEY

pytestmark = pytest.mark.slow

STREAM = "maily:events"
RECIPIENTS = 400
EVENTS = 12_000
CHUNK = 150
# Unread entries the appender lets pile up before it waits for the consumer.
BACKLOG = 2_000
# At these shares of the events stored, something is killed: the consumer (c) or Redis (r).
KILLS = ((0.08, "c"), (0.2, "r"), (0.32, "c"), (0.45, "c"), (0.58, "r"), (0.7, "c"), (0.82, "r"))


def redis_port() -> int:
    slot = int(os.environ.get("MAILY_TEST_SLOT", "0"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    return 20000 + 100 * (slot + worker) + 1


class Processes:
    """The Redis server and the consumers, each logging to its own file."""

    def __init__(self, work: Path, database_url: str) -> None:
        self.work = work
        self.database_url = database_url
        self.port = redis_port()
        self.redis_process: asyncio.subprocess.Process | None = None
        self.consumer: asyncio.subprocess.Process | None = None
        self.started: list[asyncio.subprocess.Process] = []
        (work / "redis").mkdir()

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start_redis(self) -> None:
        log = (self.work / f"redis-{len(self.started)}.log").open("wb")
        self.redis_process = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--dir",
            str(self.work / "redis"),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.started.append(self.redis_process)
        probe = Redis.from_url(self.redis_url)

        async def answers() -> bool:
            assert self.redis_process is not None
            assert self.redis_process.returncode is None, self.logs()
            try:
                return bool(await probe.ping())
            except RedisError:
                return False

        try:
            await wait_for(answers, 30, lambda: f"redis did not start\n{self.logs()}")
        finally:
            await probe.aclose()

    async def kill_redis(self) -> None:
        assert self.redis_process is not None
        self.redis_process.send_signal(signal.SIGKILL)
        await self.redis_process.wait()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILY_")}
        env.update(
            {
                "MAILY_ENVIRONMENT": "test",
                "MAILY_DATABASE_URL": self.database_url,
                "MAILY_REDIS_URL": self.redis_url,
                "MAILY_DATA_DIR": str(self.work / "data"),
                "MAILY_STORAGE__LOCAL_PATH": str(self.work / "objects"),
                "MAILY_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
                "MAILY_SECURITY__ENCRYPTION_KEYS": json.dumps([TEST_ENCRYPTION_KEY]),
                "MAILY_ROLES__HEALTH_BASE_PORT": "0",
                "MAILY_ANALYTICS__BATCH_SIZE": "200",
                "MAILY_ANALYTICS__BLOCK_MS": "200",
                # A killed consumer's entries come back to the next one within seconds.
                "MAILY_ANALYTICS__CLAIM_IDLE_SECONDS": "1",
                "MAILY_ANALYTICS__CLAIM_INTERVAL_SECONDS": "0.5",
                "MAILY_ANALYTICS__TRIM_INTERVAL_SECONDS": "0.5",
            }
        )
        return env

    async def start_consumer(self) -> None:
        log = (self.work / f"analytics-{len(self.started)}.log").open("wb")
        self.consumer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "maily",
            "analytics",
            # Not the repository: no stray .env may configure the process under test.
            cwd=self.work,
            env=self.env(),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.started.append(self.consumer)

    async def kill_consumer(self) -> None:
        assert self.consumer is not None
        assert self.consumer.returncode is None, f"the consumer died\n{self.logs()}"
        self.consumer.send_signal(signal.SIGKILL)
        await self.consumer.wait()
        assert self.consumer.returncode == -signal.SIGKILL

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.work.glob("*.log"))
        )

    async def end_all(self) -> None:
        for process in self.started:
            if process.returncode is None:
                process.kill()
                await process.wait()


@pytest.fixture
async def processes(tmp_path: Path, database_url: str) -> AsyncIterator[Processes]:
    started = Processes(tmp_path, database_url)
    try:
        yield started
    finally:
        await started.end_all()


def make_events(deliveries: list[uuid.UUID], sent_at: datetime) -> list[TrackingEvent]:
    """Opens and clicks (some flagged at ingest), a delivery notice each, all long after
    the send. A message's clicks are on one link, so no timing rule applies: what
    must be counted follows from the events alone."""
    rng = random.Random(5)
    events: list[TrackingEvent] = []
    start = sent_at + timedelta(hours=1)
    for i in range(EVENTS):
        delivery = deliveries[rng.randrange(len(deliveries))]
        at = ms(start + timedelta(milliseconds=i * 37))
        if i < len(deliveries):
            events.append(TrackingEvent(EventKind.delivered, deliveries[i], at))
        elif rng.random() < 0.6:
            machine = MachineReason.proxy if rng.random() < 0.3 else None
            events.append(TrackingEvent(EventKind.open, delivery, at, machine=machine))
        else:
            machine = MachineReason.bot if rng.random() < 0.1 else None
            link = deliveries.index(delivery) % len(LINKS)
            events.append(
                TrackingEvent(EventKind.click, delivery, at, link_index=link, machine=machine)
            )
    return events


def expected_totals(events: list[TrackingEvent]) -> dict[str, int]:
    opens = [e for e in events if e.kind is EventKind.open]
    clicks = [e for e in events if e.kind is EventKind.click]
    return {
        "delivered": sum(e.kind is EventKind.delivered for e in events),
        "opens": len(opens),
        "human_opens": sum(e.machine is None for e in opens),
        "unique_opens": len({e.delivery_id for e in opens}),
        "unique_human_opens": len({e.delivery_id for e in opens if e.machine is None}),
        "clicks": len(clicks),
        "human_clicks": sum(e.machine is None for e in clicks),
        "unique_clicks": len({e.delivery_id for e in clicks}),
        "unique_human_clicks": len({e.delivery_id for e in clicks if e.machine is None}),
    }


async def test_restarting_the_consumer_and_redis_loses_no_event_and_counts_none_twice(
    world: AnalyticsWorld, processes: Processes
) -> None:
    sent_at = datetime.now(UTC) - timedelta(days=1)
    campaign_id, deliveries = await world.campaign(RECIPIENTS, sent_at=sent_at)
    events = make_events(deliveries, sent_at)

    await processes.start_redis()
    await processes.start_consumer()
    redis = Redis.from_url(processes.redis_url)
    appended: list[str] = []
    appending = asyncio.Event()
    appending.set()
    idle = asyncio.Event()

    async def stored() -> int:
        return int(await world.scalar("SELECT count(*) FROM events WHERE workspace_id = :w") or 0)

    async def appender() -> None:
        """Append in chunks, keeping at most BACKLOG entries ahead of the consumer, and
        hold still (between chunks) while Redis is being restarted."""
        while len(appended) < len(events):
            if not appending.is_set():
                idle.set()
                await appending.wait()
                idle.clear()

            async def room() -> bool:
                return not appending.is_set() or await redis.xlen(STREAM) < BACKLOG

            await wait_for(room, 120, lambda: f"the consumer stalled\n{processes.logs()}")
            if not appending.is_set():
                continue
            chunk = events[len(appended) : len(appended) + CHUNK]
            appended.extend(await append_events(redis, STREAM, chunk))
        idle.set()

    writer = asyncio.create_task(appender())
    progress = [0]
    try:
        for share, what in KILLS:
            target = int(EVENTS * share)

            async def reached(target: int = target) -> bool:
                consumer = processes.consumer
                assert consumer is not None
                assert consumer.returncode is None, f"the consumer died\n{processes.logs()}"
                progress[0] = await stored()
                return progress[0] >= target

            await wait_for(
                reached, 180, lambda: f"{progress[0]} stored\n{processes.logs()[-6000:]}"
            )
            assert progress[0] < EVENTS, "the kill came after the stream was over"
            if what == "c":
                await processes.kill_consumer()
                await processes.start_consumer()
            else:
                appending.clear()
                await idle.wait()
                await redis.aclose()
                await processes.kill_redis()
                await processes.start_redis()
                redis = Redis.from_url(processes.redis_url)
                appending.set()
        await writer
    finally:
        if not writer.done():
            writer.cancel()

    async def drained() -> bool:
        consumer = processes.consumer
        assert consumer is not None
        assert consumer.returncode is None, f"the consumer died\n{processes.logs()}"
        return await stored() >= EVENTS and await caught_up(redis, STREAM)

    await wait_for(drained, 180, lambda: f"stored {progress[0]}\n{processes.logs()[-6000:]}")

    # Every appended entry is stored once, and nothing else is.
    rows = await world.rows("SELECT stream_id FROM events WHERE workspace_id = :w")
    stream_ids = Counter(row.stream_id for row in rows)
    assert len(appended) == EVENTS
    assert set(stream_ids) == set(appended)
    assert max(stream_ids.values()) == 1

    # The rollups add up to exactly what was appended.
    totals = await world.totals(campaign_id)
    expected = expected_totals(events)
    assert {k: totals[k] for k in expected} == expected
    links = await world.rows(
        "SELECT link_index, clicks, human_clicks FROM campaign_link_stats"
        " WHERE workspace_id = :w ORDER BY link_index"
    )
    clicks = [e for e in events if e.kind is EventKind.click]
    assert [tuple(r) for r in links] == [
        (
            i,
            sum(e.link_index == i for e in clicks),
            sum(e.link_index == i and e.machine is None for e in clicks),
        )
        for i in range(len(LINKS))
    ]
    domain_opens = await world.scalar(
        "SELECT sum(opens) FROM campaign_domain_stats WHERE workspace_id = :w"
    )
    assert domain_opens == expected["opens"]
    firsts = await world.scalar(
        "SELECT count(first_open_at) FROM deliveries WHERE workspace_id = :w"
    )
    assert firsts == expected["unique_opens"]
    person_opens = await world.scalar(
        "SELECT sum(opens_count) FROM contacts WHERE workspace_id = :w"
    )
    assert person_opens == expected["human_opens"]

    # The restarts did what they are for: consumers took over dead ones' entries, and
    # a consumer lived through Redis going away.
    logs = processes.logs(tail=10**9)
    assert "claimed entries of a stopped consumer" in logs
    assert "analytics batch failed; retrying" in logs

    # What every group acknowledged was trimmed, across the restarts too.
    assert await redis.xlen(STREAM) < EVENTS // 10

    consumer = processes.consumer
    assert consumer is not None
    consumer.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(consumer.wait(), timeout=30) == 0
    await redis.aclose()
