"""How fast `maily analytics` stores a stream of opens and clicks: the real
`AnalyticsConsumer`, in this process, over real Redis and PostgreSQL, with no load
generator or tracking server beside it, so its figures are far steadier than the drain
figures of `tracking.py`.

Builds a throwaway database on MAILY_DATABASE_URL's server (migrated to head; dropped
at the end unless --keep) with the same rows as `tracking.py` (a workspace, a sent
campaign, a contact and a delivery per recipient, the clicks' 20-link table), appends
`--events` opens and clicks (half each, spread over the recipients, a browser's user
agent and a public address each) to the stream of MAILY_REDIS_URL's database (which is
flushed), none of that timed; then steps the consumer until its group has read and
acknowledged every entry. Checks every event is in `events`, and prints one JSON line:
events stored per second, the consumer's CPU per event (this process: decoding,
resolving, classifying, tallying, SQL parameters), PostgreSQL's CPU per event (the
bench database's backends) and the batches."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

import psycopg
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from maily.analytics.consumer import AnalyticsConsumer
from maily.analytics.stream import EventKind, TrackingEvent, append_events
from maily.config import Settings
from maily.kit.db import create_engine, create_sessionmaker
from maily.kit.db.migrate import upgrade
from maily.tracking.links import link_table_id

sys.path.insert(0, str(Path(__file__).resolve().parent))
from send_throughput import cpu_seconds, database_backends  # the benches next to this one

from tracking import (
    ENCRYPTION_KEY,
    LINKS,
    SECRET_KEY,
    build_database,
    conninfo,
    group_drained,
    log,
)

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
APPEND_CHUNK = 5_000


def backends_cpu(database: str) -> float:
    """CPU seconds spent so far by the PostgreSQL backends serving `database`."""
    return sum(cpu_seconds(proc) for proc in database_backends(database, but=-1))


async def run(args: argparse.Namespace, url: str, database: str) -> dict[str, object]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        database={"url": url},
        redis={"url": os.environ["MAILY_REDIS_URL"]},
        security={"secret_key": SECRET_KEY, "encryption_keys": [ENCRYPTION_KEY]},
    )
    stream_key = settings.analytics.stream_key
    workspace = uuid.uuid4()
    table = link_table_id(workspace, uuid.uuid4(), 1, LINKS)
    deliveries = [uuid.uuid4() for _ in range(args.recipients)]
    await build_database(url, workspace, table, deliveries)
    redis = Redis.from_url(os.environ["MAILY_REDIS_URL"])
    # The drain check between steps, as tracking.py makes it after its load.
    watcher = SyncRedis.from_url(os.environ["MAILY_REDIS_URL"])
    engine = create_engine(url, pool_size=2, max_overflow=0)
    try:
        await redis.flushdb()
        rand = random.Random(args.seed)
        now_ms = int(time.time() * 1000)
        events = []
        for n in range(args.events):
            delivery = deliveries[rand.randrange(len(deliveries))]
            ip = f"203.0.{rand.randrange(113, 114)}.{rand.randrange(1, 255)}"
            at_ms = now_ms - rand.randrange(600_000)
            if n % 2:
                events.append(
                    TrackingEvent(
                        EventKind.click,
                        delivery,
                        at_ms,
                        link_index=rand.randrange(len(LINKS)),
                        link_table=table,
                        user_agent=USER_AGENT,
                        ip=ip,
                    )
                )
            else:
                events.append(
                    TrackingEvent(EventKind.open, delivery, at_ms, user_agent=USER_AGENT, ip=ip)
                )
        for start in range(0, len(events), APPEND_CHUNK):
            await append_events(redis, stream_key, events[start : start + APPEND_CHUNK])
        log(f"appended {len(events)} events")
        consumer = AnalyticsConsumer(settings, create_sessionmaker(engine), redis)
        await consumer.ensure_group()
        batches = 0
        cpu_before, pg_before = time.process_time(), backends_cpu(database)
        started = time.perf_counter()
        while True:
            report = await consumer.step()
            batches += report is not None
            if report is None and group_drained(watcher, stream_key):
                break
        took = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        pg_cpu = backends_cpu(database) - pg_before
    finally:
        await redis.aclose()
        watcher.close()
        await engine.dispose()
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    stored = int(row[0])
    if stored != len(events):
        raise SystemExit(f"{stored} events stored of {len(events)} appended")
    return {
        "bench": "analytics_cpu",
        "events": len(events),
        "recipients": args.recipients,
        "batch_size": settings.analytics.batch_size,
        "batches": batches,
        "seconds": round(took, 2),
        "events_per_s": round(len(events) / took),
        "consumer_cpu_us_per_event": round(cpu * 1e6 / len(events), 1),
        "postgres_cpu_us_per_event": round(pg_cpu * 1e6 / len(events), 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    admin_url = os.environ.get("MAILY_DATABASE_URL")
    if not admin_url or not os.environ.get("MAILY_REDIS_URL"):
        raise SystemExit("MAILY_DATABASE_URL and MAILY_REDIS_URL must name the stores")
    database = f"maily_bench_analytics_{os.getpid()}"
    with psycopg.connect(conninfo(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        url = conninfo(admin_url, database)
        upgrade(url)
        figures = asyncio.run(run(args, url, database))
    finally:
        if not args.keep:
            with psycopg.connect(conninfo(admin_url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
