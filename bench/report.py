"""Campaign report at scale: one campaign of 1,000,000 deliveries and 5,000,000 events,
its report asked for through the real API (a `maily api` process, over HTTP, with an API
key) many times; the contact activity timeline and the workspace dashboard too.

Builds a throwaway database on MAILY_DATABASE_URL's server, migrated to head (dropped at
the end unless --keep; --database NAME reuses one kept earlier). The data is made
server-side with generate_series: contacts spread over big mailbox providers and a long
tail of company domains, an A/B campaign (variant A 10%, B 90% — its test half and the
winner's rest), the ledger, and events — sent, delivered, hard and soft bounces,
complaints, unsubscribes, opens (those of 35% of the recipients fetched by a privacy
proxy within a minute) and clicks on twelve links (5% from a link scanner) trailing off
over the following days. The rollups are then filled by aggregate INSERT … SELECT from
those events, counting as the analytics service does (unique = a delivery's first open
or click). VACUUM ANALYZE, then the timed calls; the API process's CPU per call is
reported beside the wall times, which move with the machine's load.
Prints one JSON line."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psutil
import psycopg

from maily.config import Settings
from maily.kit.db.migrate import upgrade

START = "2026-11-10 08:00:00+00"
LINKS = 12

# The address of contact n: big providers first, then 5,000 company domains.
EMAIL = """'user' || n || '@' || CASE
    WHEN abs(hashtext('dom' || n)) % 1000 < 380 THEN 'gmail.com'
    WHEN abs(hashtext('dom' || n)) % 1000 < 500 THEN 'yahoo.com'
    WHEN abs(hashtext('dom' || n)) % 1000 < 600 THEN 'outlook.com'
    WHEN abs(hashtext('dom' || n)) % 1000 < 660 THEN 'hotmail.com'
    WHEN abs(hashtext('dom' || n)) % 1000 < 710 THEN 'icloud.com'
    WHEN abs(hashtext('dom' || n)) % 1000 < 740 THEN 'aol.com'
    WHEN abs(hashtext('dom' || n)) % 1000 < 760 THEN 'gmx.de'
    WHEN abs(hashtext('dom' || n)) % 1000 < 780 THEN 'web.de'
    ELSE 'company' || abs(hashtext('co' || n)) % 5000 || '.example' END"""
# When delivery n went out: the A/B test (a fifth of the audience) within the first
# hour, the winner's rest from five hours on, over three hours.
SENT_AT = """(CAST(:start AS timestamptz) + CASE WHEN d % 10 < 2
    THEN d * interval '3.6 ms' ELSE interval '5 hours' + d * interval '10.8 ms' END)"""
VARIANT = "CASE WHEN d % 10 = 0 THEN 'A' ELSE 'B' END"

CONTACTS_SQL = f"""
INSERT INTO contacts (workspace_id, id, email, source)
SELECT CAST(:ws AS uuid), md5('c' || n)::uuid, {EMAIL}, 'import'
FROM generate_series(1, CAST(:deliveries AS bigint)) AS n
"""

DELIVERIES_SQL = f"""
INSERT INTO deliveries (workspace_id, id, campaign_id, contact_id, variant, email, status,
                        attempts, first_attempt_at, sent_at)
SELECT CAST(:ws AS uuid), md5('d' || n)::uuid, CAST(:campaign AS uuid), md5('c' || n)::uuid,
       {VARIANT.replace("d %", "n %")}, {EMAIL}, 'sent', 1,
       {SENT_AT.replace("d %", "n %").replace("d *", "n *")},
       {SENT_AT.replace("d %", "n %").replace("d *", "n *")}
FROM generate_series(1, CAST(:deliveries AS bigint)) AS n
"""

# Event n of :events, by share: one `sent` per delivery, `delivered` for 97% (the rest
# bounced: two thirds hard), a few complaints and unsubscribes, opens from about 45% of
# the delivered (some five each; a privacy proxy fetches every open of 35% of the
# recipients within a minute), clicks from about 12% (5% from a link scanner within
# seconds). Delivery d is the event's recipient, picked by hash so that every variant
# and domain gets its share; human times trail off exponentially after the send.
EVENTS_SQL = f"""
INSERT INTO events (workspace_id, occurred_at, id, contact_id, campaign_id, type,
                    delivery_id, machine, link_index, variant, data)
SELECT CAST(:ws AS uuid), least({SENT_AT} + lag_s * interval '1 second',
                                CAST(:start AS timestamptz) + interval '15 days'),
       gen_random_uuid(), md5('c' || d)::uuid, CAST(:campaign AS uuid), kind,
       md5('d' || d)::uuid, machine, link, {VARIANT}, data
FROM (
    SELECT k.*,
           CASE WHEN kind = 'open' AND abs(hashtext('mpp' || d)) % 100 < 35 THEN 'proxy'
                WHEN kind = 'click' AND r < 0.05 THEN 'scanner' END AS machine,
           CASE kind WHEN 'sent' THEN 0 WHEN 'delivered' THEN 2
                WHEN 'bounce' THEN 30 + d % 600
                WHEN 'complaint' THEN 3600 + random() * 86400
                WHEN 'unsubscribe' THEN 600 + random() * 172800
                ELSE CASE WHEN (kind = 'open' AND abs(hashtext('mpp' || d)) % 100 < 35)
                               OR (kind = 'click' AND r < 0.05) THEN 3 + random() * 57
                          ELSE -ln(1 - random()) * 6 * 3600 END END AS lag_s,
           CASE WHEN kind = 'bounce' THEN jsonb_build_object(
                    'bt', CASE WHEN d % 3 = 0 THEN 'soft' ELSE 'hard' END,
                    'code', CASE WHEN d % 3 = 0 THEN '452 4.2.2' ELSE '550 5.1.1' END)
                WHEN kind = 'unsubscribe' THEN jsonb_build_object('ch', 'one_click')
                ELSE '{{}}'::jsonb END AS data
    FROM (
        SELECT n, kind,
               CASE kind
                   WHEN 'sent' THEN n
                   WHEN 'delivered' THEN n - :deliveries
                   WHEN 'bounce' THEN :delivered + (n - 2 * :deliveries + :bounced)
                   WHEN 'open' THEN 1 + abs(hashtext(
                       'od' || abs(hashtext('o' || n)) % (:delivered * 9 / 20))) % :delivered
                   WHEN 'click' THEN 1 + abs(hashtext(
                       'kd' || abs(hashtext('k' || n)) % (:delivered * 3 / 25))) % :delivered
                   ELSE 1 + abs(hashtext('x' || n)) % :delivered END::bigint AS d,
               random() AS r,
               CASE WHEN kind = 'click' THEN floor({LINKS} * power(random(), 2))::int END AS link
        FROM (
            SELECT n, CASE
                WHEN n <= :deliveries THEN 'sent'
                WHEN n <= :deliveries + :delivered THEN 'delivered'
                WHEN n <= 2 * :deliveries THEN 'bounce'
                WHEN n <= 2 * :deliveries + :complaints THEN 'complaint'
                WHEN n <= 2 * :deliveries + :complaints + :unsubscribes THEN 'unsubscribe'
                WHEN n <= 2 * :deliveries + :complaints + :unsubscribes + :opens THEN 'open'
                ELSE 'click' END AS kind
            FROM generate_series(1, CAST(:events AS bigint)) AS n
        ) AS numbered
    ) AS k
) AS e
"""

# Each event with what the analytics service decides when it applies it: is it the
# delivery's first of its kind (first human one), the first click on that link.
FLAGGED_SQL = """
CREATE TEMPORARY TABLE flagged AS
SELECT e.type, e.occurred_at, coalesce(e.variant, '') AS variant, e.link_index, e.machine,
       e.data ->> 'bt' AS bt, split_part(d.email, '@', 2) AS domain,
       row_number() OVER (PARTITION BY e.delivery_id, e.type ORDER BY e.occurred_at, e.id) = 1
           AS first_any,
       e.machine IS NULL AND row_number() OVER (
           PARTITION BY e.delivery_id, e.type, e.machine IS NULL ORDER BY e.occurred_at, e.id) = 1
           AS first_human,
       e.type = 'click' AND row_number() OVER (
           PARTITION BY e.delivery_id, e.type, e.link_index ORDER BY e.occurred_at, e.id) = 1
           AS first_link,
       e.type = 'click' AND e.machine IS NULL AND row_number() OVER (
           PARTITION BY e.delivery_id, e.type, e.link_index, e.machine IS NULL
           ORDER BY e.occurred_at, e.id) = 1 AS first_human_link
FROM events AS e
JOIN deliveries AS d ON d.workspace_id = e.workspace_id AND d.id = e.delivery_id
WHERE e.workspace_id = CAST(:ws AS uuid) AND e.campaign_id = CAST(:campaign AS uuid)
"""

CAMPAIGN_STATS_SQL = """
INSERT INTO campaign_stats (workspace_id, campaign_id, hour, variant, sent, delivered,
    hard_bounces, soft_bounces, complaints, unsubscribes, opens, human_opens, unique_opens,
    unique_human_opens, clicks, human_clicks, unique_clicks, unique_human_clicks)
SELECT CAST(:ws AS uuid), CAST(:campaign AS uuid), date_trunc('hour', occurred_at, 'UTC'),
       variant,
       count(*) FILTER (WHERE type = 'sent'),
       count(*) FILTER (WHERE type = 'delivered'),
       count(*) FILTER (WHERE type = 'bounce' AND bt = 'hard'),
       count(*) FILTER (WHERE type = 'bounce' AND bt = 'soft'),
       count(*) FILTER (WHERE type = 'complaint'),
       count(*) FILTER (WHERE type = 'unsubscribe'),
       count(*) FILTER (WHERE type = 'open'),
       count(*) FILTER (WHERE type = 'open' AND machine IS NULL),
       count(*) FILTER (WHERE type = 'open' AND first_any),
       count(*) FILTER (WHERE type = 'open' AND first_human),
       count(*) FILTER (WHERE type = 'click'),
       count(*) FILTER (WHERE type = 'click' AND machine IS NULL),
       count(*) FILTER (WHERE type = 'click' AND first_any),
       count(*) FILTER (WHERE type = 'click' AND first_human)
FROM flagged GROUP BY 3, 4
"""

LINK_STATS_SQL = """
INSERT INTO campaign_link_stats (workspace_id, campaign_id, variant, link_index, url,
    clicks, human_clicks, unique_clicks, unique_human_clicks)
SELECT CAST(:ws AS uuid), CAST(:campaign AS uuid), variant, link_index,
       'https://shop.example/' || lower(variant) || '/product/' || link_index,
       count(*), count(*) FILTER (WHERE machine IS NULL),
       count(*) FILTER (WHERE first_link), count(*) FILTER (WHERE first_human_link)
FROM flagged WHERE type = 'click' GROUP BY variant, link_index
"""

DOMAIN_STATS_SQL = """
INSERT INTO campaign_domain_stats (workspace_id, campaign_id, domain, sent, delivered,
    hard_bounces, soft_bounces, complaints, opens, unique_opens, clicks, unique_clicks)
SELECT CAST(:ws AS uuid), CAST(:campaign AS uuid), domain,
       count(*) FILTER (WHERE type = 'sent'),
       count(*) FILTER (WHERE type = 'delivered'),
       count(*) FILTER (WHERE type = 'bounce' AND bt = 'hard'),
       count(*) FILTER (WHERE type = 'bounce' AND bt = 'soft'),
       count(*) FILTER (WHERE type = 'complaint'),
       count(*) FILTER (WHERE type = 'open'),
       count(*) FILTER (WHERE type = 'open' AND first_any),
       count(*) FILTER (WHERE type = 'click'),
       count(*) FILTER (WHERE type = 'click' AND first_any)
FROM flagged GROUP BY domain
"""

AB_TEST = {
    "variants": [
        {"name": "A", "subject": "Our winter sale starts now", "template_id": None},
        {"name": "B", "subject": "30% off everything, today only", "template_id": None},
    ],
    "test_percent": 20,
    "metric": "clicks",
    "wait_minutes": 240,
}


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


def admin(server_url: str, statement: str) -> Any:
    with psycopg.connect(conninfo(server_url), autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else None


def named(sql: str, values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """`:name` parameters (as the other benches write them) to psycopg's `%(name)s`."""
    out = sql.replace("%", "%%")
    for key in sorted(values, key=len, reverse=True):
        out = out.replace(f":{key}", f"%({key})s")
    return out, values


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def api_server(dsn: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`maily api` on its own port, rate limits off (the bench is one client asking often)."""
    data_dir = tempfile.TemporaryDirectory(prefix="maily-bench-report-")
    env = dict(os.environ)
    env.update(
        MAILY_DATABASE_URL=dsn,
        MAILY_REDIS_URL=Settings().redis.url or "redis://127.0.0.1:6379/15",
        MAILY_API__HOST="127.0.0.1",
        MAILY_API__PORT=str(port),
        MAILY_RATE_LIMIT__ENABLED="false",
        MAILY_DATA_DIR=data_dir.name,
        MAILY_OBSERVABILITY__LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "maily", "api"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"maily api exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("maily api did not answer within 60 s")
            time.sleep(0.1)  # polling the health endpoint, bounded by the deadline
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        data_dir.cleanup()


OWNER = {"email": "bench-owner@example.com", "password": "bench report password"}


def sign_in(client: httpx.Client, new: bool) -> tuple[uuid.UUID, str]:
    """The bench workspace's owner (signed up in a new database, signed in to a kept
    one), and a fresh API key of that workspace allowed to read reports."""
    if new:
        tokens = client.post(
            "/api/v1/auth/signup", json=OWNER | {"name": "Bench", "workspace_name": "Bench"}
        )
    else:
        tokens = client.post(
            "/api/v1/auth/token",
            data={"username": OWNER["email"], "password": OWNER["password"]},
        )
    tokens.raise_for_status()
    headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    workspace_id = uuid.UUID(
        client.get("/api/v1/me", headers=headers).json()["workspaces"][0]["id"]
    )
    key = client.post(
        f"/api/v1/workspaces/{workspace_id}/api-keys",
        headers=headers,
        json={"name": "reports", "permissions": ["reports:read"]},
    )
    key.raise_for_status()
    return workspace_id, key.json()["key"]


def secondary_indexes(conn: psycopg.Connection[Any], table: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes AS i "
        "WHERE i.schemaname = current_schema() AND i.tablename = %s "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conname = i.indexname)",
        (table,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def build(dsn: str, workspace_id: uuid.UUID, deliveries: int, events: int) -> dict[str, Any]:
    campaign_id = uuid.uuid4()
    bounced = deliveries * 3 // 100
    shares = {
        "deliveries": deliveries,
        "delivered": deliveries - bounced,
        "bounced": bounced,
        "complaints": deliveries // 1000,
        "unsubscribes": deliveries * 4 // 1000,
    }
    rest = events - 2 * deliveries - shares["complaints"] - shares["unsubscribes"]
    if rest <= 0:
        raise SystemExit("--events must be more than twice --deliveries")
    shares["opens"] = rest * 3 // 4
    values = {"ws": workspace_id, "campaign": campaign_id, "start": START, "events": events}
    values |= shares
    timings: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO campaigns (workspace_id, id, name, status, subject, ab_test, ab_winner, "
            "started_at, finished_at, audience_size) VALUES (%s, %s, 'Winter sale', 'sent', "
            "'Winter sale', %s::jsonb, 'B', %s, %s::timestamptz + interval '8 hours', %s)",
            (workspace_id, campaign_id, json.dumps(AB_TEST), START, START, deliveries),
        )
        steps = [
            ("contacts", "contacts", CONTACTS_SQL),
            ("deliveries", "deliveries", DELIVERIES_SQL),
            ("events", "events", EVENTS_SQL),
        ]
        for name, table, sql in steps:
            started = time.perf_counter()
            # Building secondary indexes once after the load beats updating them per row.
            indexes = secondary_indexes(conn, table)
            for index_name, _ in indexes:
                conn.execute(f'DROP INDEX "{index_name}"')
            with conn.transaction():
                conn.execute("SET LOCAL synchronous_commit = off")
                conn.execute("SELECT setseed(0.42)")
                conn.execute(*named(sql, values))
            with conn.transaction():
                conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
                for _, definition in indexes:
                    conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
            timings[f"{name}_s"] = round(time.perf_counter() - started, 1)
            log(f"built {name} in {timings[f'{name}_s']} s")
        started = time.perf_counter()
        with conn.transaction():
            conn.execute("SET LOCAL work_mem = '256MB'")
            conn.execute("SET LOCAL synchronous_commit = off")
            conn.execute(*named(FLAGGED_SQL, values))
            for sql in (CAMPAIGN_STATS_SQL, LINK_STATS_SQL, DOMAIN_STATS_SQL):
                conn.execute(*named(sql, values))
            conn.execute("DROP TABLE flagged")
        timings["rollups_s"] = round(time.perf_counter() - started, 1)
        log(f"built rollups in {timings['rollups_s']} s")
        started = time.perf_counter()
        for table in (
            "contacts",
            "deliveries",
            "events",
            "campaign_stats",
            "campaign_link_stats",
            "campaign_domain_stats",
        ):
            conn.execute(f"VACUUM ANALYZE {table}")
        timings["analyze_s"] = round(time.perf_counter() - started, 1)
    return timings


def sizes(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM deliveries), (SELECT count(*) FROM events), "
            "(SELECT count(*) FROM campaign_stats), (SELECT count(*) FROM campaign_link_stats), "
            "(SELECT count(*) FROM campaign_domain_stats), "
            "(SELECT count(DISTINCT delivery_id) FROM events WHERE type = 'open'), "
            "(SELECT id FROM campaigns WHERE name = 'Winter sale'), "
            "(SELECT workspace_id FROM campaigns WHERE name = 'Winter sale')"
        ).fetchone()
    assert row is not None
    return {
        "deliveries": row[0],
        "events": row[1],
        "campaign_stats_rows": row[2],
        "link_rows": row[3],
        "domain_rows": row[4],
        "events_unique_opens": row[5],
        "campaign_id": row[6],
        "workspace_id": row[7],
    }


def timed(call: Callable[[int], httpx.Response], runs: int) -> list[float]:
    for warm_up in range(3):
        call(warm_up).raise_for_status()
    durations = []
    for run in range(runs):
        started = time.perf_counter()
        response = call(run)
        durations.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return durations


def summary(prefix: str, durations: list[float]) -> dict[str, float]:
    ordered = sorted(durations)
    return {
        f"{prefix}median_ms": round(statistics.median(ordered), 1),
        f"{prefix}p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
        f"{prefix}max_ms": round(ordered[-1], 1),
    }


def measure(
    base_url: str, server: psutil.Process, figures: dict[str, Any], key: str, runs: int
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    reports = f"/api/v1/workspaces/{figures['workspace_id']}/reports"
    campaign = f"{reports}/campaigns/{figures['campaign_id']}"
    picker = random.Random(7)
    out: dict[str, Any] = {}

    def profiled(prefix: str, call: Callable[[int], httpx.Response]) -> dict[str, float]:
        """Wall time of each call, and the API process's CPU per call (wall time on a
        shared machine moves with its load; CPU much less)."""
        before = server.cpu_times()
        durations = timed(call, runs)
        after = server.cpu_times()
        cpu = (after.user + after.system - before.user - before.system) * 1000 / (runs + 3)
        return summary(prefix, durations) | {f"{prefix}server_cpu_ms": round(cpu, 2)}

    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        report = client.get(campaign).json()
        out |= profiled("", lambda _: client.get(campaign))
        for name, path, params in (
            ("links_", f"{campaign}/links", {}),
            ("domains_", f"{campaign}/domains", {}),
            ("timeline_", f"{campaign}/timeline", {}),
            ("csv_", campaign, {"format": "csv"}),
            ("dashboard_", f"{reports}/dashboard", {"from": "2026-11-01", "to": "2026-11-30"}),
        ):
            out |= profiled(name, lambda _, p=path, q=params: client.get(p, params=q))

        def activity(_: int) -> httpx.Response:
            n = picker.randint(1, figures["deliveries"])
            contact = uuid.UUID(hashlib.md5(f"c{n}".encode()).hexdigest())
            return client.get(f"{reports}/contacts/{contact}/activity")

        out |= profiled("activity_", activity)
        out["activity_items_last"] = len(activity(0).json()["items"])
        # The floor every request pays: authentication and one tiny query.
        out |= profiled("floor_", lambda _: client.get("/api/v1/permissions"))
    counts = report["figures"]["counts"]
    out |= {
        "report_sent": counts["sent"],
        "report_delivered": counts["delivered"],
        "report_delivered_source": report["figures"]["delivered_source"],
        "report_unique_opens": counts["unique_opens"],
        "report_unique_human_opens": counts["unique_human_opens"],
        "report_click_rate": report["figures"]["rates"]["click_rate"],
        "report_variants": [v["variant"] for v in report["variants"]],
    }
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    server_url = Settings().database.url
    if not server_url:
        raise SystemExit("set MAILY_DATABASE_URL")
    name = args.database or f"maily_bench_report_{uuid.uuid4().hex[:8]}"
    found = admin(server_url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
    reuse = args.database is not None and bool(found)
    dsn = conninfo(server_url, name)
    timings: dict[str, Any] = {}
    if not reuse:
        admin(server_url, f'CREATE DATABASE "{name}"')
        log(f"migrating {name}")
        upgrade(dsn)
    try:
        port = args.port or free_port()
        with api_server(dsn, port) as process:
            base_url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base_url, timeout=30) as client:
                workspace_id, key = sign_in(client, new=not reuse)
            if not reuse:
                timings = build(dsn, workspace_id, args.deliveries, args.events)
            figures = sizes(dsn)
            log(f"timing {args.runs} calls of each report")
            measured = measure(base_url, psutil.Process(process.pid), figures, key, args.runs)
    finally:
        if not (args.keep or args.database):
            admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            log(f"kept database {name}")
    figures.pop("workspace_id")
    figures["campaign_id"] = str(figures["campaign_id"])
    return (
        {"bench": "report", "runs": args.runs}
        | measured
        | figures
        | timings
        | {"target_median_ms": 50, "loadavg_1m": round(os.getloadavg()[0], 2)}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=100, help="timed calls (after 3 warm-ups)")
    parser.add_argument("--port", type=int, default=0, help="port of the API (default: free one)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--database", help="use (or build and keep) this database; reused when it exists"
    )
    args = parser.parse_args()
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
