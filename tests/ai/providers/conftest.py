"""Fixtures of the provider tests: encrypted columns use the test keys, model servers
on loopback are allowed, and one SDK retry per provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.api.app import state_from
from maily.api.state import AppState
from maily.config import AIProviderSettings, Settings
from maily.kit.crypto import SecretBox, configure_secret_box


def with_ai_providers(settings: Settings, **overrides: object) -> Settings:
    values: dict[str, object] = {"allow_loopback": True, "max_retries": 0, **overrides}
    return settings.model_copy(update={"ai_providers": AIProviderSettings(**values)})


@pytest.fixture(autouse=True)
def secret_box(settings: Settings) -> Iterator[None]:
    previous = configure_secret_box(SecretBox.from_settings(settings))
    yield
    configure_secret_box(previous)


@pytest.fixture
def ai_settings(settings: Settings) -> Settings:
    return with_ai_providers(settings)


@pytest.fixture
async def app_state(
    ai_settings: Settings, engine: AsyncEngine, redis: Redis
) -> AsyncIterator[AppState]:
    state = state_from(ai_settings, engine, redis)
    yield state
    await state.storage.aclose()
