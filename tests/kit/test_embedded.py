"""Embedded PostgreSQL and Redis: real servers, data kept across restarts and crashes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import psycopg
import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from maily.kit.embedded import (
    LOCAL_POSTGRES_URL,
    LOCAL_REDIS_URL,
    EmbeddedStoreError,
    EmbeddedStores,
    local_or_embedded,
    tcp_answers,
)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def server_processes(root: Path) -> list[dict[str, Any]]:
    """Live processes working inside `root` (both servers chdir into their data dir).

    Zombies do not count: without a reaping init they linger after the server is gone.
    """
    root = root.resolve()
    found = []
    for proc in psutil.process_iter(["pid", "name", "cwd", "status"]):
        cwd = proc.info["cwd"]
        if cwd and proc.info["status"] != psutil.STATUS_ZOMBIE and Path(cwd).is_relative_to(root):
            found.append(proc.info)
    return found


def is_dead(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def write_row_and_key(stores: EmbeddedStores, value: str) -> None:
    # psycopg through SQLAlchemy, as Alembic uses the URL
    engine = sa.create_engine(stores.database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS note (value text)"))
        conn.execute(sa.text("INSERT INTO note VALUES (:v)"), {"v": value})
    engine.dispose()
    with redis.Redis.from_url(stores.redis_url) as client:
        client.rpush("notes", value)
        # appendfsync everysec: wait for the fsync so a SIGKILL right after cannot lose it
        client.execute_command("WAITAOF", 1, 0, 0)


def read_rows_and_keys(stores: EmbeddedStores) -> tuple[list[str], list[str]]:
    # asyncpg through SQLAlchemy, as the app uses the URL
    async def rows() -> list[str]:
        url = stores.database_url.replace("postgresql://", "postgresql+asyncpg://")
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(sa.text("SELECT value FROM note ORDER BY value"))
                return [row[0] for row in result]
        finally:
            await engine.dispose()

    with redis.Redis.from_url(stores.redis_url, decode_responses=True) as client:
        keys = sorted(client.lrange("notes", 0, -1))
    return asyncio.run(rows()), keys


def test_tcp_answers() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert tcp_answers("127.0.0.1", port)
    assert not tcp_answers("127.0.0.1", port, timeout=0.2)


@pytest.mark.slow
def test_data_survives_restart_and_stop_leaves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmbeddedStores(data) as stores:
        assert stores.database_url.startswith("postgresql://postgres@/maily?host=/")
        assert stores.redis_url.startswith("redis://127.0.0.1:")
        assert stores.postgres.start() == stores.database_url  # idempotent
        write_row_and_key(stores, "first")
        redis_port = stores.redis.port
        assert server_processes(data)
        # one owner per data dir: a second one must not start servers on the same files
        with pytest.raises(EmbeddedStoreError, match="in use"):
            EmbeddedStores(data).start()
    assert server_processes(data) == []
    stores.stop()  # a second stop is harmless

    with EmbeddedStores(data) as stores:
        assert stores.redis.port == redis_port  # remembered, so URLs stay stable
        write_row_and_key(stores, "second")
        assert read_rows_and_keys(stores) == (["first", "second"], ["first", "second"])
    assert server_processes(data) == []


@pytest.mark.slow
def test_restart_after_servers_were_killed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stores = EmbeddedStores(data).start()
    try:
        write_row_and_key(stores, "before crash")
        pids = [stores.postgres.pid, stores.redis.pid]
        for pid in pids:
            assert pid is not None
            psutil.Process(pid).kill()
        wait_until(lambda: all(pid is None or is_dead(pid) for pid in pids))
        assert (data / "postgres" / "postmaster.pid").exists()  # stale, left by the crash

        stores.stop()
        stores.start()
        assert read_rows_and_keys(stores) == (["before crash"], ["before crash"])
    finally:
        stores.stop()
    assert server_processes(data) == []


OWNER = """
import sys, threading
from pathlib import Path
import psycopg, redis
from maily.kit.embedded import EmbeddedStores

stores = EmbeddedStores(Path(sys.argv[1])).start()
with psycopg.connect(stores.database_url) as conn:
    conn.execute("CREATE TABLE note (value text)")
    conn.execute("INSERT INTO note VALUES ('owner')")
redis.Redis.from_url(stores.redis_url).rpush("notes", "owner")
print("ready", flush=True)
threading.Event().wait()
"""


@pytest.mark.slow
def test_start_after_owner_was_killed_stops_orphans(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with subprocess.Popen(
        [sys.executable, "-c", OWNER, str(data)], stdout=subprocess.PIPE, text=True
    ) as owner:
        assert owner.stdout is not None
        try:
            assert owner.stdout.readline().strip() == "ready"
        finally:
            owner.kill()  # SIGKILL: no cleanup runs, its servers are orphaned
    orphans = server_processes(data)
    assert {p["name"] for p in orphans} == {"postgres", "valkey-server"}

    with EmbeddedStores(data) as stores:
        assert not any(psutil.pid_exists(p["pid"]) and not is_dead(p["pid"]) for p in orphans)
        assert read_rows_and_keys(stores) == (["owner"], ["owner"])
    assert server_processes(data) == []


SERVE_UNTIL_SIGNAL = """
import sys, threading
from pathlib import Path
from maily.kit.embedded import EmbeddedStores

with EmbeddedStores(Path(sys.argv[1])):
    print("ready", flush=True)
    threading.Event().wait()
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_and_sigterm_stop_everything(tmp_path: Path, how: str) -> None:
    data = tmp_path / "data"
    with subprocess.Popen(
        [sys.executable, "-c", SERVE_UNTIL_SIGNAL, str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, like a terminal job
    ) as owner:
        assert owner.stdout is not None
        assert owner.stderr is not None
        assert owner.stdout.readline().strip() == "ready", owner.stderr.read()
        assert server_processes(data)
        if how == "ctrl-c":
            os.killpg(owner.pid, signal.SIGINT)  # a terminal signals the whole group
        else:
            owner.terminate()
        owner.wait(timeout=60)
    assert server_processes(data) == []


@pytest.mark.slow
def test_local_or_embedded_forced_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILY_TEST_EMBEDDED", "1")
    admin_url, redis_url, stores = local_or_embedded(tmp_path / "stores")
    assert stores is not None
    try:
        assert admin_url != LOCAL_POSTGRES_URL
        assert redis_url != LOCAL_REDIS_URL
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute('CREATE DATABASE "maily_embedded_check"')
        with redis.Redis.from_url(redis_url) as client:
            assert client.ping()
    finally:
        stores.__exit__(None, None, None)
    assert server_processes(tmp_path / "stores") == []


def test_local_or_embedded_prefers_local_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAILY_TEST_EMBEDDED", raising=False)
    if not (tcp_answers("127.0.0.1", 5432) and tcp_answers("127.0.0.1", 6379)):
        pytest.skip("no local PostgreSQL and Redis")
    admin_url, redis_url, stores = local_or_embedded(tmp_path / "stores")
    if stores is not None:  # they answer TCP but refused the login or PING
        stores.stop()
        pytest.skip("local servers answer but are not usable")
    assert (admin_url, redis_url) == (LOCAL_POSTGRES_URL, LOCAL_REDIS_URL)
