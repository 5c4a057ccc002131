"""The role runtime: a real role process with its health port, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from maily.config import Settings
from maily.kit.roles import ROLE_PORT_OFFSETS, health_port_for, idle_until_stopped, run_role

ROLE_SCRIPT = """
import asyncio, functools, sys
from maily.config import Settings
from maily.kit.roles import idle_until_stopped, run_role

async def stubborn(stop):
    await asyncio.Event().wait()  # ignores the stop event

role, mode = sys.argv[1], sys.argv[2]
main = stubborn if mode == "stubborn" else functools.partial(idle_until_stopped, role)
asyncio.run(run_role(role, Settings(_env_file=None), main, health_port=0))
"""

DEADLINE_SECONDS = 20.0


class RoleProcess:
    """A `run_role` subprocess whose JSON log lines are read as they arrive."""

    def __init__(self, role: str, mode: str = "idle") -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILY_")}
        env["MAILY_OBSERVABILITY__LOG_JSON"] = "true"
        self.process = subprocess.Popen(
            [sys.executable, "-c", ROLE_SCRIPT, role, mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[dict[str, Any]] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for_line(self, message: str) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE_SECONDS
        for line in self.lines:
            if line.get("message") == message:
                return line
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                raw = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if raw is None:
                break
            line = self._parse(raw)
            self.lines.append(line)
            if line.get("message") == message:
                return line
        raise AssertionError(f"no {message!r} line; got {self.lines}")

    def wait_exit(self) -> int:
        """The exit code, once the process ended and all its output has been read."""
        code = self.process.wait(timeout=DEADLINE_SECONDS)
        while (raw := self._queue.get(timeout=DEADLINE_SECONDS)) is not None:
            self.lines.append(self._parse(raw))
        return code

    @staticmethod
    def _parse(raw: str) -> dict[str, Any]:
        try:
            line: dict[str, Any] = json.loads(raw)
        except json.JSONDecodeError:
            return {"message": raw.rstrip()}  # a traceback, say
        return line

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def spawn() -> Iterator[Any]:
    started: list[RoleProcess] = []

    def _spawn(role: str, mode: str = "idle") -> RoleProcess:
        started.append(RoleProcess(role, mode))
        return started[-1]

    yield _spawn
    for role in started:
        role.kill()


def wait_until_healthy(port: int) -> httpx.Response:
    deadline = time.monotonic() + DEADLINE_SECONDS
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            if response.status_code == 200:
                return response
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.05)  # polling interval, bounded by the deadline above
    raise AssertionError(f"/healthz on port {port} never answered: {last}")


@pytest.mark.slow
def test_role_serves_health_and_stops_cleanly_on_sigterm(spawn: Any) -> None:
    role = spawn("sender")

    started = role.wait_for_line("role started")
    port = started["health_port"]
    assert started["role"] == "sender"
    assert wait_until_healthy(port).json() == {"status": "ok"}
    assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'maily_role_up{role="sender"} 1.0' in metrics

    role.process.send_signal(signal.SIGTERM)

    assert role.wait_exit() == 0
    idle = role.wait_for_line("nothing to do yet")
    assert idle["role"] == "sender"
    assert idle["level"] == "info"
    assert role.wait_for_line("stop requested")["signal"] == "SIGTERM"
    role.wait_for_line("role stopped")


@pytest.mark.slow
def test_second_signal_cancels_a_role_that_ignores_stop(spawn: Any) -> None:
    role = spawn("analytics", "stubborn")
    wait_until_healthy(role.wait_for_line("role started")["health_port"])

    role.process.send_signal(signal.SIGTERM)
    role.wait_for_line("stop requested")
    assert role.process.poll() is None  # still running: its main ignores the event
    role.process.send_signal(signal.SIGINT)

    assert role.wait_exit() == 0
    role.wait_for_line("stopping now")


def test_side_ports_are_the_base_plus_the_role_offset() -> None:
    settings = Settings(_env_file=None, roles={"health_base_port": 9100})

    ports = {name: health_port_for(name, settings) for name in ROLE_PORT_OFFSETS}

    assert set(ports) == {
        "worker",
        "sender",
        "scheduler",
        "analytics",
        "ai",
        "inbound",
        "webhooks",
        "tracking",
    }
    assert len(set(ports.values())) == len(ports)
    assert all(9100 < port < 9200 for port in ports.values())


def test_base_port_zero_means_any_free_port() -> None:
    settings = Settings(_env_file=None, roles={"health_base_port": 0})

    assert health_port_for("worker", settings) == 0


def test_unknown_role_has_no_side_port() -> None:
    with pytest.raises(ValueError, match="unknown role 'mailer'"):
        health_port_for("mailer", Settings(_env_file=None))


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def role_up(role: str) -> float | None:
    return REGISTRY.get_sample_value("maily_role_up", {"role": role})


def quiet_settings() -> Settings:
    return Settings(_env_file=None)


@pytest.mark.usefixtures("restore_logging")
async def test_run_role_with_a_caller_owned_stop_event() -> None:
    stop, main_started = asyncio.Event(), asyncio.Event()
    seen: list[float | None] = []

    async def main(event: asyncio.Event) -> None:
        seen.append(role_up("scheduler"))
        main_started.set()
        await idle_until_stopped("scheduler", event)

    running = asyncio.create_task(
        run_role("scheduler", quiet_settings(), main, health_port=0, stop=stop)
    )
    waiting = asyncio.create_task(main_started.wait())
    await asyncio.wait(
        {running, waiting}, timeout=DEADLINE_SECONDS, return_when=asyncio.FIRST_COMPLETED
    )
    waiting.cancel()
    assert main_started.is_set(), running
    stop.set()
    await asyncio.wait_for(running, DEADLINE_SECONDS)

    assert seen == [1.0]
    assert role_up("scheduler") == 0.0


@pytest.mark.usefixtures("restore_logging")
async def test_an_error_in_main_propagates_and_marks_the_role_down() -> None:
    async def main(event: asyncio.Event) -> None:
        raise RuntimeError("lost the leader lock")

    with pytest.raises(RuntimeError, match="leader lock"):
        await run_role("inbound", quiet_settings(), main, health_port=0, stop=asyncio.Event())

    assert role_up("inbound") == 0.0


@pytest.mark.usefixtures("restore_logging")
async def test_a_taken_side_port_fails_the_role() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran: list[bool] = []

        async def main(event: asyncio.Event) -> None:
            ran.append(True)

        with pytest.raises(OSError, match="already in use"):
            await run_role("worker", quiet_settings(), main, health_port=port, stop=asyncio.Event())

    assert ran == []
    assert role_up("worker") == 0.0
