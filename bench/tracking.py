"""Tracking endpoints under load: `wrk -t2 -c64 --latency` against one `maily tracking`
process (granian + uvloop, real Redis), on the open pixel and the click redirect with
many different valid tokens (a Lua script picks one per request from a token list), and
in the same run on `/t/bare`, the same GIF from the same server with no token and no
event: the ceiling of the server itself. Every run picks its paths with the same Lua
script (the bare run's carry a token in a query string the endpoint ignores), so the
load generator, which shares the cores with the server, costs the same in each.

Builds a throwaway database on MAILY_DATABASE_URL's server (migrated to head; dropped at
the end unless --keep) holding one workspace, a sent campaign with one delivery (and
contact) per token and the 20-link table the click tokens name, all by set-based
inserts; starts its own Redis (`redis-server`, no persistence) on a free port unless
--redis-url is given; none of that is timed. Installs Debian's wrk package when it is
missing.

After the load, a real `maily analytics` process consumes the stream into the same
database; once its consumer group has read and acknowledged every entry (a condition
polled with a deadline), the bench counts the rows of `events`. `lost_events` is
requests answered with 2xx/3xx on the open and click runs (bare appends no event)
minus events stored (clamped at 0: requests in flight when a wrk run ends are answered
and stored but not counted by wrk, so `stored_events` may exceed `answered` by up to
the connections of a run). `lost_after_recording` is exact: events the server counted
as stored in the stream minus events in PostgreSQL. Prints one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from cryptography.fernet import Fernet
from redis import Redis

from maily.analytics.stream import ANALYTICS_GROUP
from maily.config import Settings
from maily.kit.db import create_engine, create_sessionmaker, transaction
from maily.kit.db.migrate import upgrade
from maily.tracking.links import link_table_id, publish_link_table, store_link_table
from maily.tracking.tokens import TokenSigner

LINKS = [f"https://shop.example.com/spring/item-{n}?utm_source=mail" for n in range(20)]
SECRET_KEY = "bench-tracking-secret-key-" + "x" * 32
ENCRYPTION_KEY = Fernet.generate_key().decode()
PICKER = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("installing wrk (Debian package)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "wrk"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and could not be installed")
    return found


def wait_for_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the tracking server exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit("the tracking server did not start")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "requests": requests,
        "rps": rps,
        "p50_ms": float(p50.group(1)) * _UNITS[p50.group(2)] if p50 else None,
        "p99_ms": float(p99.group(1)) * _UNITS[p99.group(2)] if p99 else None,
        "non_2xx_3xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def run_wrk(
    wrk: str,
    base: str,
    args: argparse.Namespace,
    duration: int,
    script: Path | None,
    path: str = "/",
    server: psutil.Process | None = None,
) -> dict[str, Any]:
    """One wrk run; with `server`, also the server's CPU time per answered request
    (user + system, µs): the figure that stays put when the machine is busy."""
    before = server.cpu_times() if server is not None else None
    command = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    result = subprocess.run([*command, base + path], capture_output=True, text=True, check=True)
    figures = parse_wrk(result.stdout)
    if server is not None and before is not None:
        after = server.cpu_times()
        spent = (after.user - before.user) + (after.system - before.system)
        figures["server_cpu_us"] = round(spent * 1e6 / max(1, figures["requests"]), 1)
    return figures


async def build_database(
    url: str, workspace: uuid.UUID, table: uuid.UUID, deliveries: list[uuid.UUID]
) -> None:
    """The rows the consumer resolves the bench's events against: a workspace, a sent
    campaign, a contact and a sent delivery per token, the click tokens' link table."""
    from sqlalchemy import text

    campaign, template = uuid.uuid4(), uuid.uuid4()
    sent_at = datetime.now(UTC) - timedelta(hours=1)  # long enough ago for no prefetch
    engine = create_engine(url, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            await session.execute(
                text(
                    "INSERT INTO workspaces (id, name, slug, postal_address)"
                    " VALUES (:id, 'Bench', :slug, '')"
                ),
                {"id": workspace, "slug": f"bench-{workspace.hex[:12]}"},
            )
            await session.execute(
                text(
                    "INSERT INTO campaigns (workspace_id, id, name, status, subject, started_at)"
                    " VALUES (:ws, :id, 'Bench', 'sending', 'Bench', :at)"
                ),
                {"ws": workspace, "id": campaign, "at": sent_at},
            )
            await session.execute(
                text(
                    "INSERT INTO contacts (workspace_id, id, email, source)"
                    " SELECT CAST(:ws AS uuid), d, 'r' || n || '@example.com', 'import'"
                    " FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS x(d, n)"
                ),
                {"ws": workspace, "ids": deliveries},
            )
            # Each delivery's contact has the delivery's id: one array makes both.
            await session.execute(
                text(
                    "INSERT INTO deliveries (workspace_id, id, campaign_id, contact_id, email,"
                    " status, attempts, first_attempt_at, sent_at)"
                    " SELECT CAST(:ws AS uuid), d, CAST(:campaign AS uuid), d,"
                    " 'r' || n || '@example.com', 'sent', 1, :at, :at"
                    " FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS x(d, n)"
                ),
                {"ws": workspace, "campaign": campaign, "ids": deliveries, "at": sent_at},
            )
            await store_link_table(session, workspace, table, template, 1, LINKS)
    finally:
        await engine.dispose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def group_drained(redis: Redis, stream_key: str) -> bool:
    """Whether group `analytics` has read every entry and acknowledged all it read."""
    last = _text(redis.xinfo_stream(stream_key)["last-generated-id"])
    for group in redis.xinfo_groups(stream_key):
        info = {_text(k): v for k, v in group.items()}
        if _text(info["name"]) == ANALYTICS_GROUP:
            lag = info.get("lag")
            return (
                _text(info["last-delivered-id"]) == last
                and not int(info["pending"])
                and (lag is None or not int(lag))
            )
    return False


def drain(
    env: dict[str, str],
    work: Path,
    redis: Redis,
    stream_key: str,
    url: str,
    timeout: float,
    profile: Path | None = None,
) -> tuple[int, float]:
    """Run `maily analytics` until its group has caught up with the stream; returns the
    events stored and the seconds it took."""
    log_path = work / "analytics.log"
    consumer_env = {
        **{k: v for k, v in env.items() if not k.startswith("MAILY_TRACKING__")},
        "MAILY_ROLES__HEALTH_BASE_PORT": "0",
    }
    started = time.monotonic()
    with log_path.open("wb") as output:
        consumer = subprocess.Popen(
            [sys.executable, "-m", "maily", "analytics"],
            env=consumer_env,
            cwd=work,  # no stray .env configures it
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        profiler = None
        if profile is not None:
            # Collapsed stacks of the whole drain; py-spy stops when the consumer exits.
            profiler = subprocess.Popen(
                [
                    *("py-spy", "record", "-p", str(consumer.pid), "-o", str(profile)),
                    *("-f", "raw", "-r", "100"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            deadline = started + timeout
            while not group_drained(redis, stream_key):
                if consumer.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    raise SystemExit(f"maily analytics exited with {consumer.returncode}\n{tail}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"the consumer did not drain the stream in {timeout:.0f} s")
                time.sleep(0.2)  # polling a condition with a deadline
            took = time.monotonic() - started
        finally:
            stop(consumer)
            if profiler is not None:
                profiler.wait()
    with psycopg.connect(conninfo(url)) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    return int(row[0]), took


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(20)
        if process.poll() is None:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up load")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=20_000, help="distinct tokens per endpoint")
    parser.add_argument(
        "--redis-url", help="use this Redis instead of starting one (it is flushed)"
    )
    parser.add_argument("--port", type=int, default=0, help="tracking server port (0: free)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=900,
        help="seconds the analytics consumer gets to store every event",
    )
    parser.add_argument(
        "--redis-nice",
        type=int,
        default=0,
        help="run the bench's redis-server at this niceness (negative: ahead of other work on a shared machine)",
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy the server during one run into this file"
    )
    parser.add_argument(
        "--profile-run",
        choices=("open", "click"),
        default="open",
        help="the run --profile samples (default: open)",
    )
    parser.add_argument(
        "--profile-format",
        choices=("speedscope", "raw"),
        default="speedscope",
        help="py-spy's output format for --profile (raw: collapsed stacks)",
    )
    parser.add_argument(
        "--profile-consumer",
        type=Path,
        help="py-spy `maily analytics` during the drain into this file (collapsed stacks)",
    )
    args = parser.parse_args()

    admin_url = os.environ.get("MAILY_DATABASE_URL")
    if not admin_url:
        raise SystemExit("MAILY_DATABASE_URL must name a PostgreSQL server to build on")
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="maily-bench-tracking-"))
    database = f"maily_bench_tracking_{os.getpid()}"
    redis_process: subprocess.Popen[bytes] | None = None
    server: subprocess.Popen[bytes] | None = None
    with psycopg.connect(conninfo(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        url = conninfo(admin_url, database)
        upgrade(url)
        if args.redis_url:
            redis_url = args.redis_url
        else:
            redis_port = free_port()
            redis_process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
            )
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
        redis = Redis.from_url(redis_url)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        redis.flushdb()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="test",
            security={"secret_key": SECRET_KEY, "encryption_keys": [ENCRYPTION_KEY]},
        )
        stream_key = settings.analytics.stream_key
        workspace = uuid.uuid4()
        table = link_table_id(workspace, uuid.uuid4(), 1, LINKS)
        deliveries = [uuid.uuid4() for _ in range(args.tokens)]
        asyncio.run(build_database(url, workspace, table, deliveries))

        async def publish() -> None:
            from redis.asyncio import Redis as AsyncRedis

            client = AsyncRedis.from_url(redis_url)
            await publish_link_table(client, table, LINKS, settings.tracking.link_table_key_prefix)
            await client.aclose()

        asyncio.run(publish())

        signer = TokenSigner.from_settings(settings)
        opens = work / "opens.txt"
        clicks = work / "clicks.txt"
        opens.write_text("".join(f"/t/o/{signer.sign_open(d)}.gif\n" for d in deliveries))
        clicks.write_text(
            "".join(
                f"/t/c/{signer.sign_click(d, random.randrange(len(LINKS)), table)}\n"
                for d in deliveries
            )
        )
        # The bare run picks its paths through the same Lua script, so wrk (which
        # shares the machine's cores with the server) does the same work per request
        # in every run: `/t/bare?<token>`, a request of the open's size whose query the
        # bare endpoint ignores.
        bares = work / "bares.txt"
        bares.write_text("".join(f"/t/bare?{signer.sign_open(d)}.gif\n" for d in deliveries))
        open_script, click_script = work / "opens.lua", work / "clicks.lua"
        bare_script = work / "bares.lua"
        open_script.write_text(PICKER % opens)
        click_script.write_text(PICKER % clicks)
        bare_script.write_text(PICKER % bares)

        port = args.port or free_port()
        health_port = free_port()
        env = {
            **os.environ,
            "MAILY_ENVIRONMENT": "test",
            "MAILY_DATABASE_URL": url,
            "MAILY_REDIS_URL": redis_url,
            "MAILY_SECURITY__SECRET_KEY": SECRET_KEY,
            "MAILY_SECURITY__ENCRYPTION_KEYS": json.dumps([ENCRYPTION_KEY]),
            "MAILY_TRACKING__PORT": str(port),
            "MAILY_TRACKING__BARE_ENDPOINT": "true",
            "MAILY_ROLES__HEALTH_BASE_PORT": str(health_port - 8),
            "MAILY_OBSERVABILITY__LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "maily", "tracking"], env=env, stdout=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        wait_for_http(base + "/t/bare", server)
        load_before = os.getloadavg()
        log(f"warming up for {args.warmup} s")
        warm = run_wrk(wrk, base, args, args.warmup, open_script)
        watched = psutil.Process(server.pid)

        def profiled_run(name: str, script: Path) -> dict[str, Any]:
            profiler: subprocess.Popen[bytes] | None = None
            if args.profile and args.profile_run == name:
                profiler = subprocess.Popen(
                    [
                        *("py-spy", "record", "-p", str(server.pid), "-o", str(args.profile)),
                        *("-f", args.profile_format, "-d", str(args.duration), "-r", "200"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            log(f"{name}s for {args.duration} s")
            result = run_wrk(wrk, base, args, args.duration, script, server=watched)
            if profiler is not None:
                profiler.wait()
            return result

        opened = profiled_run("open", open_script)
        clicked = profiled_run("click", click_script)
        log(f"bare for {args.duration} s")
        bare = run_wrk(wrk, base, args, args.duration, bare_script, "/t/bare", server=watched)
        load_after = os.getloadavg()
        metrics = httpx.get(f"http://127.0.0.1:{health_port}/metrics", timeout=5).text
        batches = sum(
            float(v)
            for v in re.findall(r"^maily_tracking_stream_batches_total (\S+)$", metrics, re.M)
        )
        # What the server itself stored in the stream: wrk's count leaves out the
        # requests still in flight when each run ends, which the server answers anyway.
        recorded = sum(
            int(float(v))
            for v in re.findall(
                r'^maily_tracking_events_total\{kind="(?:open|click)"\} (\S+)$', metrics, re.M
            )
        )
        # Every answered open and click appends one event before its answer.
        answered = sum(r["requests"] - r["non_2xx_3xx"] for r in (warm, opened, clicked))
        stop(server)
        entries = int(redis.xlen(stream_key))
        log(
            "load: "
            + ", ".join(
                f"{name} {run['rps']:.0f} req/s, {run['server_cpu_us']} µs CPU each"
                for name, run in (("open", opened), ("click", clicked), ("bare", bare))
            )
        )
        log(f"draining {entries} entries through maily analytics")
        stored, drain_s = drain(
            env, work, redis, stream_key, url, args.drain_timeout, args.profile_consumer
        )
        figures = {
            "open_rps": round(opened["rps"]),
            "click_rps": round(clicked["rps"]),
            "bare_rps": round(bare["rps"]),
            "p99_ms": max(opened["p99_ms"] or 0, clicked["p99_ms"] or 0),
            "lost_events": max(0, answered - stored),
            "answered": answered,
            "stored_events": stored,
            "stream_entries": entries,
            "server_recorded_events": recorded,
            "lost_after_recording": recorded - stored,
            "drain_s": round(drain_s, 1),
            "consumer_events_per_s": round(stored / drain_s) if drain_s else None,
            "open_p50_ms": opened["p50_ms"],
            "click_p50_ms": clicked["p50_ms"],
            "bare_p50_ms": bare["p50_ms"],
            "open_p99_ms": opened["p99_ms"],
            "click_p99_ms": clicked["p99_ms"],
            "bare_p99_ms": bare["p99_ms"],
            "open_vs_bare": round(opened["rps"] / bare["rps"], 2) if bare["rps"] else None,
            "click_vs_bare": round(clicked["rps"] / bare["rps"], 2) if bare["rps"] else None,
            "events_per_round_trip": round(entries / batches, 1) if batches else None,
            "open_cpu_us": opened.get("server_cpu_us"),
            "click_cpu_us": clicked.get("server_cpu_us"),
            "bare_cpu_us": bare.get("server_cpu_us"),
            "errors": sum(r["non_2xx_3xx"] + r["socket_errors"] for r in (opened, clicked, bare)),
            "connections": args.connections,
            "duration_s": args.duration,
            "tokens": args.tokens,
            "redis_nice": args.redis_nice,
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in load_after],
        }
        print(json.dumps(figures), flush=True)
    finally:
        if server is not None:
            stop(server)
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(10)
        if not args.keep:
            with psycopg.connect(conninfo(admin_url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
