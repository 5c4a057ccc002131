"""Checks of deploy/compose.yaml that need no Docker: structure, health checks, secrets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"

ROLES = (
    "api",
    "worker",
    "sender",
    "scheduler",
    "analytics",
    "ai",
    "inbound",
    "webhooks",
    "tracking",
)
STORES = ("postgres", "redis", "minio")
# Run once and exit: no health check, `restart: "no"`.
ONE_SHOTS = ("migrate", "minio-bucket")

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ENCRYPTION_KEYS|API_KEY")
# A secret is either required from the environment (`${VAR:?message}`) or, for optional
# credentials, empty unless given (`${VAR:-}`); never a literal or a non-empty default.
REQUIRED_REF = re.compile(r"\$\{[A-Z0-9_]+:\?[^}]*\}")
OPTIONAL_EMPTY_REF = re.compile(r"^\$\{[A-Z0-9_]+:-\}$")
DEFAULT_REF = re.compile(r"\$\{[A-Z0-9_]+:?-([^}]+)\}")


def load(path: Path = COMPOSE) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict) or "services" not in document:
        raise ValueError(f"{path} has no services")
    return document


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def secret_problems(name: str, key: str, value: str) -> list[str]:
    if OPTIONAL_EMPTY_REF.match(value) or (
        REQUIRED_REF.search(value) and not DEFAULT_REF.search(value)
    ):
        return []
    return [
        f"{name}: {key} must come from the environment without a default (${{VAR:?}}), not {value!r}"
    ]


def problems(document: dict[str, Any]) -> list[str]:
    """Everything wrong with a compose document, as sentences; empty when it holds."""
    found: list[str] = []
    services: dict[str, Any] = document["services"]
    for required in (*STORES, *ONE_SHOTS, *ROLES):
        if required not in services:
            found.append(f"service {required} is missing")
    for name, service in services.items():
        if not isinstance(service, dict):
            found.append(f"{name}: not a mapping")
            continue
        if not service.get("image") and not service.get("build"):
            found.append(f"{name}: neither image nor build")
        if name in ONE_SHOTS:
            if service.get("restart") not in ("no", None):
                found.append(f"{name}: a one-shot must not restart")
        else:
            check = service.get("healthcheck") or {}
            if not check.get("test") or check.get("disable"):
                found.append(f"{name}: no health check")
        if name in ROLES:
            command = service.get("command")
            if command != [name]:
                found.append(f"{name}: runs {command!r}, not the {name} role")
            depends = service.get("depends_on") or {}
            if depends.get("migrate", {}).get("condition") != "service_completed_successfully":
                found.append(f"{name}: does not wait for the migrations")
            env = _environment(service)
            for key in ("MAILY_DATABASE_URL", "MAILY_REDIS_URL", "MAILY_SECURITY__SECRET_KEY"):
                if key not in env:
                    found.append(f"{name}: {key} is not set")
            if env.get("MAILY_ROLE") != name:
                found.append(
                    f"{name}: MAILY_ROLE is not {name} (the image's health check reads it)"
                )
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                found.extend(secret_problems(name, key, value))
            # A password inside a URL counts as well.
            for match in re.finditer(r"://[^:/@]*:([^@]+)@", value):
                found.extend(secret_problems(name, f"{key} (password in URL)", match.group(1)))
        for item in service.get("command") or []:
            for match in re.finditer(r"--requirepass\s*,?\s*(\S+)", str(item)):
                found.extend(secret_problems(name, "--requirepass", match.group(1)))
    return found
