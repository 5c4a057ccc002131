"""The container image: its Dockerfile's shape and the health check it runs."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest

from maily.kit.health import HealthServer
from maily.kit.roles import ROLE_PORT_OFFSETS

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
DOCKERFILE = (DOCKER / "Dockerfile").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def test_the_image_is_built_in_stages_and_runs_as_a_non_root_user() -> None:
    steps = instructions(DOCKERFILE)
    stages = [args.split()[-1] for word, args in steps if word == "FROM"]
    assert stages == ["web", "build", "runtime"]
    users = [args for word, args in steps if word == "USER"]
    assert users, "no USER instruction"
    assert users[-1].split(":")[0] not in ("root", "0")
    # The Python environment comes from the lock file, without development tools.
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert "uv sync --locked --no-dev" in runs
    assert [args for word, args in steps if word == "ENTRYPOINT"] == ['["tini", "--", "maily"]']
    assert any(word == "HEALTHCHECK" and "/app/healthcheck.py" in args for word, args in steps)


def test_the_web_stage_works_without_a_web_folder() -> None:
    web_stage = DOCKERFILE.split("AS web", 1)[1].split("FROM ", 1)[0]
    assert "COPY web" not in web_stage
    assert "if [ -f web/package.json ]" in web_stage


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "container_healthcheck", DOCKER / "healthcheck.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_health_check_knows_every_role_port(healthcheck: ModuleType) -> None:
    assert dict(ROLE_PORT_OFFSETS) == healthcheck.ROLE_PORT_OFFSETS
    assert healthcheck.url_for("api", {}) == "http://127.0.0.1:8000/readyz"
    assert healthcheck.url_for("sender", {"MAILY_ROLES__HEALTH_BASE_PORT": "9200"}) == (
        "http://127.0.0.1:9202/readyz"
    )
    assert healthcheck.url_for("tracking", {}) == "http://127.0.0.1:9108/readyz"
    assert healthcheck.url_for("webhooks", {}) == "http://127.0.0.1:9107/readyz"


async def passing() -> None:
    return None


async def refusing() -> None:
    raise ConnectionRefusedError("redis is down")


@pytest.fixture
async def servers() -> AsyncIterator[tuple[int, int]]:
    ready = HealthServer("127.0.0.1", 0, {"database": passing})
    unready = HealthServer("127.0.0.1", 0, {"redis": refusing})
    await ready.start()
    await unready.start()
    try:
        yield ready.port, unready.port
    finally:
        await ready.stop()
        await unready.stop()


async def run_check(*args: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(DOCKER / "healthcheck.py"),
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), timeout=30)


async def test_the_health_check_exits_by_readiness(servers: tuple[int, int]) -> None:
    ready_port, unready_port = servers
    assert await run_check(f"http://127.0.0.1:{ready_port}/readyz") == 0
    assert await run_check(f"http://127.0.0.1:{unready_port}/readyz") == 1
    # Nothing listening: unhealthy, not a crash.
    assert await run_check("http://127.0.0.1:9/readyz") == 1
