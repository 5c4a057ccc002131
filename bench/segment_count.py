"""Live segment count at scale: 1M contacts, 10M engagement events, a three-condition segment
(a custom field, a tag, opened within 30 days) counted through the real compiler. The
contacts' engagement columns are filled from the events, as the analytics service does.

Builds the data server-side (INSERT … SELECT generate_series) in a throwaway database made
on MAILY_DATABASE_URL's server and migrated to head, which it drops at the end unless
--keep. --database NAME reuses a database kept by an earlier run. Prints one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from typing import Any

import psycopg
from sqlalchemy import ClauseElement, Executable, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles

from maily.config import Settings
from maily.contacts.fields import FieldType
from maily.kit.db import AsyncSession, create_engine
from maily.kit.db.migrate import upgrade
from maily.models import Workspace
from maily.segments.compiler import segment_predicate
from maily.segments.repository import COUNT_SETTINGS, SegmentRepository
from maily.segments.rules import SegmentRules

SEGMENT = {
    "all": [
        {"custom_field": "plan", "op": "eq", "value": "pro"},
        {"field": "tags", "op": "has", "value": "vip"},
        {"event": "opened", "within_days": 30},
    ]
}
FIELDS = {"plan": FieldType.choice, "age": FieldType.number}

# Contacts: ids are md5('c' || n) so events can name a contact without a join. Each
# attribute comes from its own hash of n, so attributes are independent of each other:
# ~90% subscribed, plan 'pro' for a quarter, tag 'vip' on a tenth, ages 18-77.
CONTACTS_SQL = """
INSERT INTO contacts (workspace_id, id, email, first_name, last_name, status, source,
                      fields, tags, created_at, updated_at)
SELECT CAST(:ws AS uuid), md5('c' || n)::uuid,
       'user' || n || '@' || (ARRAY['gmail.com','yahoo.com','acme.com','example.org'])[1 + n % 4],
       'First' || n % 1000, 'Last' || n % 5000,
       CASE WHEN r < 0.90 THEN 'subscribed' WHEN r < 0.96 THEN 'unsubscribed'
            WHEN r < 0.99 THEN 'bounced' ELSE 'complained' END,
       (ARRAY['import','api','form','admin'])[1 + n % 4],
       jsonb_build_object(
           'plan', (ARRAY['free','pro','team','enterprise'])[1 + abs(hashtext('plan' || n)) % 4],
           'age', 18 + abs(hashtext('age' || n)) % 60),
       array_remove(ARRAY[CASE WHEN abs(hashtext('vip' || n)) % 10 = 0 THEN 'vip' END,
                          CASE WHEN abs(hashtext('beta' || n)) % 5 = 0 THEN 'beta' END,
                          CASE WHEN abs(hashtext('customer' || n)) % 3 = 0 THEN 'customer' END,
                          CASE WHEN abs(hashtext('lead' || n)) % 4 = 0 THEN 'lead' END],
                    NULL)::varchar[],
       now() - (n % 1000) * interval '1 day', now()
FROM (SELECT n, random() AS r FROM generate_series(1, CAST(:contacts AS bigint)) AS n) AS s
"""

# Events spread evenly over the last year: 55% sent, 33% open, 10% click, 2% bounce; fifty campaigns.
EVENTS_SQL = """
INSERT INTO events (workspace_id, occurred_at, id, contact_id, campaign_id, type)
SELECT CAST(:ws AS uuid), now() - random() * interval '365 days', gen_random_uuid(),
       md5('c' || (1 + floor(random() * CAST(:contacts AS bigint))::bigint))::uuid,
       md5('campaign' || n % 50)::uuid,
       CASE WHEN r < 0.55 THEN 'sent' WHEN r < 0.88 THEN 'open'
            WHEN r < 0.98 THEN 'click' ELSE 'bounce' END
FROM (SELECT n, random() AS r FROM generate_series(1, CAST(:events AS bigint)) AS n) AS s
"""

# What the analytics service keeps on each contact: the latest event of each kind and
# the counts, derived here from the generated events.
ENGAGEMENT_SQL = """
UPDATE contacts AS c
SET last_sent_at = e.last_sent, last_open_at = e.last_open, last_click_at = e.last_click,
    sends_count = e.sends, opens_count = e.opens, clicks_count = e.clicks
FROM (
    SELECT contact_id,
           max(occurred_at) FILTER (WHERE type = 'sent') AS last_sent,
           max(occurred_at) FILTER (WHERE type = 'open') AS last_open,
           max(occurred_at) FILTER (WHERE type = 'click') AS last_click,
           count(*) FILTER (WHERE type = 'sent') AS sends,
           count(*) FILTER (WHERE type = 'open') AS opens,
           count(*) FILTER (WHERE type = 'click') AS clicks
    FROM events WHERE workspace_id = CAST(:ws AS uuid) GROUP BY contact_id
) AS e
WHERE c.workspace_id = CAST(:ws AS uuid) AND c.id = e.contact_id
"""

SUPPRESSIONS_SQL = """
INSERT INTO suppressions (workspace_id, id, kind, value, value_hash, reason)
SELECT CAST(:ws AS uuid), gen_random_uuid(), 'address', email, email_hash, 'hard_bounce'
FROM contacts WHERE workspace_id = CAST(:ws AS uuid) AND abs(hashtext(email)) % 100 = 0
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def conninfo(url: str, database: str | None = None) -> str:
    plain = url.replace("postgresql+asyncpg://", "postgresql://").replace(
        "postgresql+psycopg://", "postgresql://"
    )
    if database is None:
        return plain
    head, _, query = plain.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


def database_exists(server_url: str, name: str) -> bool:
    with psycopg.connect(conninfo(server_url), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return found is not None


def create_database(server_url: str, name: str) -> None:
    with psycopg.connect(conninfo(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(conninfo(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def secondary_indexes(engine: AsyncEngine, table: str) -> list[tuple[str, str]]:
    """Name and definition of the table's indexes that back no constraint."""
    query = text(
        "SELECT i.indexname, i.indexdef FROM pg_indexes AS i "
        "WHERE i.schemaname = current_schema() AND i.tablename = :table "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conname = i.indexname)"
    )
    async with engine.connect() as conn:
        return [(row[0], row[1]) for row in await conn.execute(query, {"table": table})]


async def build(engine: AsyncEngine, contacts: int, events: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    workspace_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            Workspace.__table__.insert().values(id=workspace_id, name="Bench", slug="bench")
        )
        for key, type_ in FIELDS.items():
            await conn.execute(
                text(
                    "INSERT INTO custom_fields (workspace_id, id, key, label, type) "
                    "VALUES (:ws, gen_random_uuid(), :key, :key, :type)"
                ),
                {"ws": workspace_id, "key": key, "type": type_.value},
            )
    steps = [  # (step, table written, SQL, parameters)
        ("contacts", "contacts", CONTACTS_SQL, {"contacts": contacts}),
        ("events", "events", EVENTS_SQL, {"contacts": contacts, "events": events}),
        ("engagement", "contacts", ENGAGEMENT_SQL, {}),
        ("suppressions", "suppressions", SUPPRESSIONS_SQL, {}),
    ]
    for name, table, sql, params in steps:
        started = time.perf_counter()
        # Loading 10M rows into random places of the secondary indexes is the slow part:
        # drop them (as the migrations made them) and build them again once loaded.
        indexes = await secondary_indexes(engine, table)
        async with engine.begin() as conn:
            for index_name, _ in indexes:
                await conn.execute(text(f'DROP INDEX "{index_name}"'))
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL synchronous_commit = off"))
            await conn.execute(text("SELECT setseed(0.42)"))
            await conn.execute(text(sql), {"ws": workspace_id, **params})
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
            for _, definition in indexes:
                # A partitioned table's index reads back as ON ONLY, i.e. parent alone.
                await conn.execute(text(definition.replace(" ON ONLY ", " ON ", 1)))
        timings[f"{name}_s"] = round(time.perf_counter() - started, 1)
        log(f"built {name} in {timings[f'{name}_s']} s")
    started = time.perf_counter()
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        # The engagement step rewrote every contact, leaving a dead copy of each: compact
        # the table, so the count reads a table of this many contacts, not twice as many.
        await conn.execute(text("VACUUM (FULL, ANALYZE) contacts"))
        await conn.execute(text("VACUUM ANALYZE suppressions"))
        await conn.execute(text("VACUUM ANALYZE events"))
    timings["analyze_s"] = round(time.perf_counter() - started, 1)
    return timings


async def measure(
    engine: AsyncEngine, segment: dict[str, Any], runs: int, explain: bool
) -> dict[str, Any]:
    async with engine.connect() as conn:
        workspace_id = (await conn.execute(select(Workspace.id))).scalar_one()
        sizes = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM events), "
                    "pg_total_relation_size('contacts')"
                )
            )
        ).one()
    rules = SegmentRules.model_validate(segment)
    durations = []
    counted = (0, 0)
    for run in range(runs + 2):  # two warm-up runs fill the caches
        async with engine.connect() as conn, AsyncSession(bind=conn) as session:
            started = time.perf_counter()
            predicate = segment_predicate(workspace_id, rules, FIELDS)
            counted = await SegmentRepository(session).count(workspace_id, predicate)
            elapsed = (time.perf_counter() - started) * 1000
        if run >= 2:
            durations.append(elapsed)
    if explain:
        await explain_plan(engine, workspace_id, rules)
    return {
        "bench": "segment_count",
        "segment": segment,
        "contacts": sizes[0],
        "events": sizes[1],
        "contacts_mb": round(sizes[2] / 2**20),
        "matched": counted[0],
        "sendable": counted[1],
        "runs": runs,
        "median_ms": round(statistics.median(durations), 1),
        "min_ms": round(min(durations), 1),
        "max_ms": round(max(durations), 1),
    }


class Explain(Executable, ClauseElement):
    """EXPLAIN (ANALYZE, BUFFERS) of a statement, its values bound like any query's."""

    inherit_cache = False

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (ANALYZE, BUFFERS) " + str(compiler.process(element.statement, **kw))


async def explain_plan(engine: AsyncEngine, workspace_id: uuid.UUID, rules: SegmentRules) -> None:
    predicate = segment_predicate(workspace_id, rules, FIELDS)
    async with engine.begin() as conn:
        for name, value in COUNT_SETTINGS:  # as SegmentRepository.count does
            await conn.execute(select(func.set_config(name, value, True)))
        plan = await conn.execute(Explain(SegmentRepository.count_query(workspace_id, predicate)))
        log("\n".join(row[0] for row in plan))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server_url = Settings().database.url
    if not server_url:
        raise SystemExit("set MAILY_DATABASE_URL")
    name = args.database or f"maily_bench_segments_{uuid.uuid4().hex[:8]}"
    reuse = args.database is not None and database_exists(server_url, name)
    timings: dict[str, float] = {}
    if not reuse:
        create_database(server_url, name)
        log(f"migrating {name}")
        await asyncio.to_thread(upgrade, conninfo(server_url, name))
    engine = create_engine(conninfo(server_url, name), pool_size=1, max_overflow=0)
    try:
        if not reuse:
            timings = await build(engine, args.contacts, args.events)
        figures = await measure(engine, json.loads(args.rules), args.runs, args.explain)
    finally:
        await engine.dispose()
        if not (args.keep or args.database):
            drop_database(server_url, name)
        else:
            log(f"kept database {name}")
    return figures | timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=15, help="timed counts (after 2 warm-ups)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--database", help="use (or build and keep) this database; reused when it exists"
    )
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE to stderr")
    parser.add_argument(
        "--rules",
        default=json.dumps(SEGMENT),
        help="another segment to count (JSON; custom fields: plan (choice), age (number))",
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
