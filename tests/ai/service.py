"""`maily ai` as a real process for the tests that go through the whole path (API →
gRPC → `maily ai` → agent mesh → a fake model API over HTTP), and what they share."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from maily.ai.server import SERVICE_NAME
from maily.config import Settings
from tests.ai.conftest import FAKE_OPENAI_KEY
from tests.ai.fakes import FakeOpenAI
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_SECRET_KEY, Account
from tests.ports import free_port

__all__ = ["DEADLINE", "AIProcess", "add_provider", "fake_provider", "free_port", "parse_sse"]

DEADLINE = 60.0  # longest a process may take to start or stop on a busy machine


class AIProcess:
    """`maily ai` as a subprocess, its JSON log lines read as they arrive."""

    def __init__(self, settings: Settings, port: int, **env_extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILY_")}
        assert settings.database.url
        assert settings.redis.url
        env.update(
            {
                "MAILY_ENVIRONMENT": "test",
                "MAILY_DATABASE_URL": settings.database.url,
                "MAILY_REDIS_URL": settings.redis.url,
                "MAILY_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
                "MAILY_SECURITY__ENCRYPTION_KEYS": json.dumps([TEST_ENCRYPTION_KEY]),
                "MAILY_AI__HOST": "127.0.0.1",
                "MAILY_AI__PORT": str(port),
                # The fake model API listens on loopback.
                "MAILY_AI_PROVIDERS__ALLOW_LOOPBACK": "true",
                "MAILY_ROLES__HEALTH_BASE_PORT": "0",
                "MAILY_OBSERVABILITY__LOG_JSON": "true",
                **env_extra,
            }
        )
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "maily", "ai"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, message: str) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                raw = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if raw is None:
                break
            self.seen.append(raw)
            try:
                line: dict[str, Any] = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if line.get("message") == message:
                return line
        raise AssertionError(f"`maily ai` never logged {message!r}: {''.join(self.seen)[-3000:]}")

    async def wait_serving(self) -> None:
        self.wait_for("AI service listening")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=DEADLINE
            )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=DEADLINE)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def fake_provider(fake: FakeOpenAI) -> dict[str, str]:
    """The body that adds `fake` as a workspace's model provider."""
    return {
        "name": "Fake OpenAI",
        "kind": "openai",
        "base_url": fake.base_url,
        "model": "fake-model",
        "api_key": FAKE_OPENAI_KEY,
    }


async def add_provider(client: httpx.AsyncClient, owner: Account, fake: FakeOpenAI) -> None:
    created = await client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/ai/providers",
        headers=owner.headers,
        json=fake_provider(fake),
    )
    assert created.status_code == 201, created.text


def parse_sse(body: str) -> list[tuple[str, dict[str, Any]]]:
    """`event:` / `data:` blocks separated by blank lines, in order."""
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields["event"], json.loads(fields["data"])))
    return events
