"""Campaign send throughput: personalised ~10 KB messages with 20 tracked links and an
RSA-2048 DKIM signature, through the real pipeline (ledger → `maily sender` processes →
SMTP transport) into Postfix's `smtp-sink` on loopback; then, in the same run,
`smtp-source -d -s 16` with 10 KB messages into the same sink, the C-to-C ceiling.

Builds a throwaway database on MAILY_DATABASE_URL's server (migrated to head; dropped at
the end unless --keep) holding a workspace with a verified sending domain and its key,
a sender, a stored template, the contacts on a list and the campaign begun (the ledger
made); none of that is timed. The timed part runs from starting the sender processes
until the ledger has no pending row. Installs Debian's postfix package when smtp-sink
is missing. Prints one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
from sqlalchemy import text

from maily.campaigns.engine import CampaignEngine
from maily.config import Settings
from maily.delivery.dkim import DkimAlgorithm, generate_key
from maily.kit.crypto import SecretBox, configure_secret_box
from maily.kit.db import create_engine, create_sessionmaker, transaction
from maily.kit.db.migrate import upgrade
from maily.models import Campaign, SendingDomain, Template, TemplateVersion
from maily.models import Sender as SenderRow

SINK = Path("/usr/sbin/smtp-sink")
SOURCE = Path("/usr/sbin/smtp-source")
DOMAIN = "news.bench.test"
PUBLIC_URL = "https://mail.bench.test"
SOURCE_MESSAGES = 20_000


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


def template_source(links: int) -> str:
    """About 10 KB of message once rendered and assembled (HTML part, its text twin,
    headers): merge tags in the greeting and the footer, `links` distinct tracked
    links, each under a line of product copy."""
    copy = "Hand-picked for the season, with free returns."
    items = "\n".join(
        f"<tr><td><h3>Offer {n}</h3><p>{copy}</p>"
        f'<a href="https://shop.example.com/spring/item-{n}?utm_source=mail">See offer {n}</a>'
        "</td></tr>"
        for n in range(1, links + 1)
    )
    return f"""<html><head><style>
p {{ color: #333333; font-family: Helvetica, Arial, sans-serif }}
</style></head><body>
<p>Hello {{{{ contact.first_name | default("there") }}}} {{{{ contact.last_name }}}},</p>
<p>Here is what is new at {{{{ workspace.name }}}} this week, picked for
{{{{ contact.email }}}}.</p>
<table width="100%">
{items}
</table>
<p style="font-size: 11px">{{{{ workspace.name }}}}, {{{{ workspace.postal_address }}}} -
<a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></p>
</body></html>"""


async def build_world(url: str, messages: int, links: int) -> tuple[uuid.UUID, uuid.UUID]:
    """The workspace, domain + key, sender, template, contacts and the begun campaign."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    sessionmaker = create_sessionmaker(engine)
    key = await asyncio.to_thread(generate_key, DkimAlgorithm.rsa_sha256)
    workspace_id, list_id = uuid.uuid4(), uuid.uuid4()
    try:
        async with transaction(sessionmaker) as session:
            await session.execute(
                text(
                    "INSERT INTO workspaces (id, name, slug, postal_address)"
                    " VALUES (:id, 'Springfield Goods', 'bench', '1 Main St, Springfield')"
                ),
                {"id": workspace_id},
            )
            await session.execute(
                text("INSERT INTO lists (workspace_id, id, name) VALUES (:w, :id, 'Readers')"),
                {"w": workspace_id, "id": list_id},
            )
            domain = SendingDomain(
                workspace_id=workspace_id,
                domain=DOMAIN,
                dkim_selector="bench",
                dkim_algorithm=DkimAlgorithm.rsa_sha256.value,
                dkim_private_key=key.private_key_pem,
                dkim_public_key=key.public_key,
                return_path_domain=f"bounces.{DOMAIN}",
                verified_at=datetime.now(UTC),
            )
            session.add(domain)
            await session.flush()
            sender = SenderRow(
                workspace_id=workspace_id,
                sending_domain_id=domain.id,
                from_name="Springfield Goods",
                from_email=f"hello@{DOMAIN}",
            )
            template = Template(workspace_id=workspace_id, name="Spring", kind="html")
            session.add_all([sender, template])
            await session.flush()
            session.add(
                TemplateVersion(
                    workspace_id=workspace_id,
                    template_id=template.id,
                    version=1,
                    source=template_source(links),
                )
            )
        started = time.perf_counter()
        async with transaction(sessionmaker) as session:
            params = {"w": workspace_id, "l": list_id, "n": messages}
            await session.execute(
                text(
                    "INSERT INTO contacts (workspace_id, id, email, first_name, last_name, source)"
                    " SELECT :w, maily_uuid7(), 'reader' || n || '@inbox' || n % 7 || '.test',"
                    " 'Reader' || n, 'Family' || n % 100, 'api'"
                    " FROM generate_series(1, :n) AS n"
                ),
                params,
            )
            await session.execute(
                text(
                    "INSERT INTO list_memberships (workspace_id, list_id, contact_id, status)"
                    " SELECT :w, :l, id, 'subscribed' FROM contacts WHERE workspace_id = :w"
                ),
                params,
            )
        async with transaction(sessionmaker) as session:
            campaign = Campaign(
                workspace_id=workspace_id,
                name="Spring",
                subject="Spring is here, {{ contact.first_name }}",
                preheader="Twenty offers picked for you",
                template_id=template.id,
                sender_id=sender.id,
                list_ids=[list_id],
                status="scheduled",
                scheduled_at=datetime.now(UTC),
            )
            session.add(campaign)
            await session.flush()
            campaign_id = campaign.id
        async with transaction(sessionmaker) as session:
            begun = await CampaignEngine(session).begin(workspace_id, campaign_id)
            if begun is None or begun.status != "sending":
                raise SystemExit(f"the campaign did not begin: {begun and begun.failure_reason}")
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("contacts", "list_memberships", "deliveries"):
                await conn.execute(text(f"VACUUM ANALYZE {table}"))
        log(f"built {messages} contacts and the ledger in {time.perf_counter() - started:.1f} s")
    finally:
        await engine.dispose()
    return workspace_id, campaign_id


def ledger_counts(conn: psycopg.Connection[Any], campaign_id: uuid.UUID) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status, count(*) FROM deliveries WHERE campaign_id = %s GROUP BY status",
        (campaign_id,),
    ).fetchall()
    return {status: int(n) for status, n in rows}


def pending_rows(conn: psycopg.Connection[Any], campaign_id: uuid.UUID) -> int:
    """Rows not settled yet, from the partial index of pending rows (cheaper than a
    count by status of the whole campaign, which the poll would pay every time)."""
    row = conn.execute(
        "SELECT count(*) FROM deliveries WHERE campaign_id = %s"
        " AND status IN ('queued', 'leased', 'deferred')"
        " AND workspace_id = (SELECT workspace_id FROM campaigns WHERE id = %s)",
        (campaign_id, campaign_id),
    ).fetchone()
    return int(row[0]) if row else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_postfix() -> None:
    if SINK.exists() and SOURCE.exists():
        return
    log("installing postfix for smtp-sink and smtp-source")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "postfix"],
        check=True,
        env=env,
        stdout=sys.stderr,
    )


@contextlib.contextmanager
def smtp_sink(port: int) -> Any:
    # -u nobody: it refuses to run as root otherwise; 1024 is the listen backlog.
    sink = subprocess.Popen(
        [str(SINK), "-u", "nobody", f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=sys.stderr,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or sink.poll() is not None:
                raise SystemExit("smtp-sink did not start")
            time.sleep(0.05)
        yield sink
    finally:
        sink.terminate()
        sink.wait(10)


def sender_env(args: argparse.Namespace, dsn: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    # Start-up is timed: let the processes read (and write) compiled bytecode, as an
    # installed deployment does, rather than compile every module each start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        MAILY_DATABASE_URL=dsn,
        MAILY_REDIS_URL=Settings().redis.url or "redis://127.0.0.1:6379/15",
        MAILY_TRANSPORT="smtp",
        MAILY_SMTP__HOST="127.0.0.1",
        MAILY_SMTP__PORT=str(port),
        MAILY_SMTP__SECURITY="none",
        MAILY_SMTP__MAX_CONNECTIONS=str(args.connections),
        MAILY_SMTP__MESSAGES_PER_CONNECTION="100000",
        MAILY_SENDER__BATCH_SIZE=str(args.batch_size),
        MAILY_SENDER__CONCURRENCY=str(args.concurrency),
        MAILY_SENDER__POLL_INTERVAL_SECONDS="0.2",
        MAILY_API__PUBLIC_URL=PUBLIC_URL,
        MAILY_ROLES__HEALTH_BASE_PORT="0",  # a free side port each
        MAILY_OBSERVABILITY__LOG_LEVEL="WARNING",
    )
    return env


def sender_process(pid: int, wrapped: bool) -> psutil.Process:
    """The sender's Python process (under py-spy: its child, once started)."""
    proc = psutil.Process(pid)
    deadline = time.monotonic() + 10
    while wrapped and not proc.children() and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc.children()[0] if wrapped and proc.children() else proc


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU of a process so far; 0 once it is gone."""
    try:
        times = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def main_thread_cpu(proc: psutil.Process) -> float:
    """User + system CPU of a process's main thread (its thread id is its pid)."""
    try:
        return sum(t.user_time + t.system_time for t in proc.threads() if t.id == proc.pid)
    except psutil.Error:
        return 0.0


def database_backends(database: str, but: int) -> list[psutil.Process]:
    """The PostgreSQL backends serving `database` (their process title names it),
    except the one with pid `but` (the bench's own)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.pid == but:
            continue
        with contextlib.suppress(psutil.Error):
            title = " ".join(proc.info["cmdline"] or ())
            if title.startswith("postgres:") and f" {database} " in f"{title} ":
                found.append(proc)
    return found


def run_senders(
    args: argparse.Namespace,
    dsn: str,
    port: int,
    campaign_id: uuid.UUID,
    sink: psutil.Process,
    database: str,
) -> dict[str, Any]:
    env = sender_env(args, dsn, port)
    warm = "import maily.cli, maily.delivery.sender, maily.delivery.transports.smtp"
    subprocess.run([sys.executable, "-c", warm], env=env, check=True)
    sink_cpu = cpu_seconds(sink)
    started = time.perf_counter()
    command = [sys.executable, "-m", "maily", "sender"]
    procs = []
    for n in range(args.processes):
        wrap: list[str] = []
        if args.profile:
            # py-spy runs the sender as its child and writes collapsed stacks when it ends.
            out = Path(args.profile) / f"sender-{n}.txt"
            wrap = [args.py_spy, "record", "--format", "raw", "--rate", "100"]
            wrap += ["-o", str(out), "--"]
        procs.append(
            subprocess.Popen(wrap + command, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)
        )
    watched = [sender_process(p.pid, bool(args.profile)) for p in procs]
    peak_rss = 0
    first_progress: float | None = None
    counts: dict[str, int] = {}
    last_log = started
    monitor = psycopg.connect(dsn, autocommit=True)
    monitor_pid = int(monitor.info.backend_pid)
    try:
        while True:
            time.sleep(args.poll)
            for proc in watched:
                with contextlib.suppress(psutil.Error):
                    peak_rss = max(peak_rss, proc.memory_info().rss)
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a sender process exited early")
            pending = pending_rows(monitor, campaign_id)
            now = time.perf_counter()
            if first_progress is None and pending < args.messages:
                first_progress = now
            if now - last_log >= 5:
                log(f"{now - started:.0f} s: {pending} pending")
                last_log = now
            if pending == 0:
                break
            if now - started > args.timeout:
                raise SystemExit(f"timed out with {pending} rows pending")
        elapsed = time.perf_counter() - started
        # CPU the run cost, per message: the senders (start-up included), smtp-sink,
        # and the PostgreSQL backends of the senders' connections.
        threads = [main_thread_cpu(proc) for proc in watched]
        cpu = {
            "sender": sum(cpu_seconds(proc) for proc in watched),
            # The event loop's thread (leases, SMTP, recording) apart from the threads
            # that compose; start-up counts to the main thread.
            "sender_main_thread": sum(threads),
            "sink": cpu_seconds(sink) - sink_cpu,
            "postgres": sum(cpu_seconds(proc) for proc in database_backends(database, monitor_pid)),
        }
        counts = ledger_counts(monitor, campaign_id)
    finally:
        monitor.close()
        for proc in watched:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    sent = counts.get("sent", 0)
    steady = elapsed - ((first_progress or started) - started)
    return {
        "maily_msgs_per_s": round(sent / elapsed),
        "seconds": round(elapsed, 2),
        # From the first settled row on: without process start-up.
        "steady_msgs_per_s": round(sent / steady) if steady > 0 else None,
        "sender_peak_rss_mb": round(peak_rss / 2**20, 1),
        **{f"{k}_cpu_us_per_msg": round(v / max(sent, 1) * 1e6) for k, v in cpu.items()},
        "ledger": counts,
    }


def run_smtp_source(port: int, messages: int) -> dict[str, Any]:
    started = time.perf_counter()
    subprocess.run(
        [
            str(SOURCE),
            "-d",
            "-s",
            "16",
            "-m",
            str(messages),
            "-l",
            "10240",
            "-f",
            "a@x.test",
            "-t",
            "b@y.test",
            f"127.0.0.1:{port}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - started
    return {"smtp_source_msgs_per_s": round(messages / elapsed), "smtp_source_seconds": elapsed}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server_url = Settings().database.url
    if not server_url:
        raise SystemExit("set MAILY_DATABASE_URL")
    ensure_postfix()
    configure_secret_box(SecretBox.from_settings(Settings()))
    name = f"maily_bench_send_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = conninfo(server_url, name)
    try:
        log(f"migrating {name}")
        await asyncio.to_thread(upgrade, dsn)
        _, campaign_id = await build_world(dsn, args.messages, args.links)
        port = free_port()
        with smtp_sink(port) as sink:
            log(f"sending {args.messages} messages with {args.processes} sender processes")
            maily = await asyncio.to_thread(
                run_senders, args, dsn, port, campaign_id, psutil.Process(sink.pid), name
            )
            log(f"maily: {maily}")
            source = await asyncio.to_thread(run_smtp_source, port, args.source_messages)
    finally:
        if args.keep:
            log(f"kept database {name}")
        else:
            with psycopg.connect(conninfo(server_url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ratio = maily["maily_msgs_per_s"] / source["smtp_source_msgs_per_s"]
    return {
        "bench": "send_throughput",
        "messages": args.messages,
        "links": args.links,
        "processes": args.processes,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "connections": args.connections,
        **maily,
        "smtp_source_msgs_per_s": source["smtp_source_msgs_per_s"],
        "ratio_to_smtp_source": round(ratio, 3),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000, help="recipients (ledger rows)")
    parser.add_argument("--links", type=int, default=20, help="tracked links per message")
    parser.add_argument("--processes", type=int, default=2, help="`maily sender` processes")
    parser.add_argument("--batch-size", type=int, default=500, help="MAILY_SENDER__BATCH_SIZE")
    parser.add_argument("--concurrency", type=int, default=4, help="MAILY_SENDER__CONCURRENCY")
    parser.add_argument(
        "--connections", type=int, default=8, help="SMTP connections per sender process"
    )
    parser.add_argument(
        "--source-messages", type=int, default=SOURCE_MESSAGES, help="smtp-source -m"
    )
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between ledger polls")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after (seconds)")
    parser.add_argument(
        "--profile", help="run each sender under py-spy, collapsed stacks into this folder"
    )
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if shutil.which("apt-get") is None and not SINK.exists():
        raise SystemExit("smtp-sink is missing and apt-get is not here to install postfix")
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
