"""The `maily` command's admin actions against a real database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from maily.cli import app
from maily.config import get_settings
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_SECRET_KEY


@pytest.fixture
def cli_env(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "MAILY_ENVIRONMENT": "test",
        "MAILY_DATABASE_URL": database_url,
        "MAILY_REDIS_URL": redis_url,
        "MAILY_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
        "MAILY_SECURITY__ENCRYPTION_KEYS": f'["{TEST_ENCRYPTION_KEY}"]',
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def maily(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_create_user_workspace_and_reset_password(cli_env: None) -> None:
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    code, out = maily("users", "create", "--email", email, "--password", "first password!")
    assert code == 0, out
    assert email in out

    code, out = maily("users", "create", "--email", email, "--password", "first password!")
    assert code == 1
    assert "exists already" in out

    code, out = maily("workspaces", "create", "--name", "CLI Shop", "--owner-email", email)
    assert code == 0, out
    assert "CLI Shop" in out

    code, out = maily("users", "reset-password", "--email", email)
    assert code == 0, out
    assert "generated password:" in out

    code, out = maily(
        "users", "reset-password", "--email", "nobody@example.com", "--password", "x" * 12
    )
    assert code == 1
    assert "no account" in out


def test_short_password_is_refused(cli_env: None) -> None:
    code, out = maily("users", "create", "--email", "short@example.com", "--password", "short")
    assert code == 2
    assert "at least 10" in out


def test_roles_need_configured_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILY_DATABASE_URL", raising=False)
    monkeypatch.delenv("MAILY_REDIS_URL", raising=False)
    get_settings.cache_clear()
    try:
        code, out = maily("sender")
    finally:
        get_settings.cache_clear()
    assert code == 2
    assert "MAILY_DATABASE_URL" in out


def test_default_secrets_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILY_ENVIRONMENT", "production")
    get_settings.cache_clear()
    try:
        code, out = maily("migrate")
    finally:
        get_settings.cache_clear()
    assert code == 2
    assert "default or weak secrets" in out


def test_migrate(cli_env: None) -> None:
    code, out = maily("migrate")
    assert code == 0, out
    assert "migrated to head" in out
