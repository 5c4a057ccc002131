"""Settings: nested groups, shorthands, and no default secrets outside development."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from maily.config import Environment, Settings


def test_shorthand_urls_fill_the_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILY_DATABASE_URL", "postgresql://db.example/maily")
    monkeypatch.setenv("MAILY_REDIS_URL", "redis://cache.example/0")
    monkeypatch.setenv("MAILY_API__PORT", "9000")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database.url == "postgresql://db.example/maily"
    assert settings.redis.url == "redis://cache.example/0"
    assert settings.api.port == 9000


def test_env_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("MAILY_QUEUE__CONCURRENCY=3\n")
    assert Settings(_env_file=env).queue.concurrency == 3  # type: ignore[call-arg]


@pytest.mark.parametrize("environment", [Environment.production, Environment.test])
def test_default_secrets_are_refused_outside_development(environment: Environment) -> None:
    with pytest.raises(ValidationError, match="MAILY_SECURITY__SECRET_KEY"):
        Settings(_env_file=None, environment=environment)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="MAILY_SECURITY__ENCRYPTION_KEYS"):
        Settings(  # type: ignore[call-arg]
            _env_file=None, environment=environment, security={"secret_key": "s" * 40}
        )
    good = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment=environment,
        security={"secret_key": "s" * 40, "encryption_keys": [Fernet.generate_key().decode()]},
    )
    assert good.environment is environment


def test_development_allows_defaults() -> None:
    assert Settings(_env_file=None).is_development  # type: ignore[call-arg]
