"""deploy/compose.yaml: every store and role, health checks, and no secret with a default."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.composefile import COMPOSE, ROLES, load, problems
from tests.deploy.settings_names import is_setting, unknown

ROOT = Path(__file__).resolve().parents[2]


def test_the_compose_file_holds() -> None:
    assert problems(load()) == []


def test_roles_use_one_image_and_the_stores_of_the_file() -> None:
    services = load()["services"]
    images = {services[role]["image"] for role in ROLES} | {services["migrate"]["image"]}
    assert images == {"${MAILY_IMAGE:-maily:latest}"}
    assert services["api"]["build"] == {"context": "..", "dockerfile": "deploy/docker/Dockerfile"}
    env = services["sender"]["environment"]
    assert "@postgres:5432/maily" in env["MAILY_DATABASE_URL"]
    assert "@redis:6379/0" in env["MAILY_REDIS_URL"]
    assert env["MAILY_STORAGE__S3_ENDPOINT_URL"] == "http://minio:9000"
    assert (ROOT / "deploy" / "docker" / "Dockerfile").is_file()


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda s: s.pop("sender"), "service sender is missing"),
        (lambda s: s["worker"].pop("healthcheck"), "worker: no health check"),
        (lambda s: s["postgres"]["healthcheck"].update(disable=True), "postgres: no health check"),
        (
            lambda s: s["api"]["environment"].update(
                MAILY_SECURITY__SECRET_KEY="${MAILY_SECRET_KEY:-changeme}"
            ),
            "api: MAILY_SECURITY__SECRET_KEY must come from the environment",
        ),
        (
            lambda s: s["postgres"]["environment"].update(POSTGRES_PASSWORD="maily"),
            "postgres: POSTGRES_PASSWORD must come from the environment",
        ),
        (
            lambda s: s["worker"]["environment"].update(
                MAILY_DATABASE_URL="postgresql://maily:maily@postgres/maily"
            ),
            "worker: MAILY_DATABASE_URL (password in URL) must come from the environment",
        ),
        (lambda s: s["analytics"].update(command=["worker"]), "analytics: runs ['worker']"),
        (lambda s: s["api"].pop("depends_on"), "api: does not wait for the migrations"),
    ],
)
def test_a_broken_compose_file_is_caught(
    breakage: Callable[[dict[str, Any]], object], expected: str
) -> None:
    document = copy.deepcopy(load())
    breakage(document["services"])
    found = problems(document)
    assert any(p.startswith(expected) for p in found), found


def test_the_example_env_file_names_every_required_variable() -> None:
    text = "\n".join(
        line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = (ROOT / "deploy" / ".env.example").read_text()
    declared = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert required <= declared, required - declared
    # The example holds no secret value itself.
    for line in example.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            if key in required:
                assert value == "", key


def test_every_maily_variable_is_a_real_setting() -> None:
    names = {
        key
        for service in load()["services"].values()
        for key in (service.get("environment") or {})
        if key.startswith("MAILY_")
    }
    assert len(names) > 15
    assert unknown(names) == set()
    # The check itself tells a setting from a misspelt one.
    assert is_setting("MAILY_SMTP__HOST")
    assert is_setting("MAILY_DATABASE_URL")
    assert not is_setting("MAILY_SMTP__HOSTNAME")
    assert not is_setting("MAILY_DATABASE__URL__X")
