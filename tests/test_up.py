"""`maily up` end to end: embedded stores, first owner, sign-in, clean stop, data kept."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port


def start_up(data_dir: Path, port: int, log: Path, inbound_port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILY_")}
    env["MAILY_ROLES__HEALTH_BASE_PORT"] = "0"
    env["MAILY_INBOUND__PORT"] = str(inbound_port)
    env["MAILY_AI__PORT"] = str(free_port())  # the gRPC port of the AI service
    return subprocess.Popen(
        [sys.executable, "-m", "maily", "up", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=data_dir.parent,
    )


def wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling a port with a deadline, not waiting for an event
    pytest.fail("maily up was not ready within 60 s:\n" + log.read_text()[-3000:])


def stop(process: subprocess.Popen[bytes], how: signal.Signals) -> int:
    process.send_signal(how)
    return process.wait(timeout=30)


def json_lines(log: Path) -> list[dict[str, object]]:
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def embedded_processes(data_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if str(data_dir) in line and "maily up" not in line]


def smtp_greeting(port: int, log: Path) -> bytes:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                return sock.recv(512)
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(log.read_text()[-3000:]) from None
        time.sleep(0.2)  # polling a port with a deadline, not waiting for an event


@pytest.mark.slow
def test_up_runs_everything_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "up.log"
    port = free_port()
    inbound_port = free_port()

    first = start_up(data_dir, port, log, inbound_port)
    try:
        wait_ready(first, port, log)
        output = log.read_text()
        match = re.search(r"email:\s+(\S+)\s+password:\s+(\S+)", output)
        assert match, output[-2000:]
        email, password = match.groups()
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            data={"username": email, "password": password},
        )
        assert token.status_code == 200
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        created = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/workspaces", headers=headers, json={"name": "Kept"}
        )
        assert created.status_code == 201
        started = {
            line.get("role") for line in json_lines(log) if line.get("message") == "role started"
        }
        assert started >= {
            "worker", "sender", "scheduler", "analytics", "webhooks", "ai", "inbound"
        }  # fmt: skip
        # The bounce receiver answers SMTP on its port.
        assert smtp_greeting(inbound_port, log).startswith(b"220")
    finally:
        assert stop(first, signal.SIGINT) == 0
    assert embedded_processes(data_dir) == []

    second = start_up(data_dir, port, log, inbound_port)
    try:
        wait_ready(second, port, log)
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            data={"username": email, "password": password},
        )
        assert token.status_code == 200
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        names = [
            w["name"]
            for w in httpx.get(f"http://127.0.0.1:{port}/api/v1/workspaces", headers=headers).json()
        ]
        assert "Kept" in names
        assert log.read_text().count("Maily is set up") == 1
    finally:
        assert stop(second, signal.SIGTERM) == 0
    assert embedded_processes(data_dir) == []
