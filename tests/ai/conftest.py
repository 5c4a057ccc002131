"""Fixtures of the AI tests: fake model APIs on loopback (see tests/ai/fakes.py), a real
gRPC server on a free port (driven by the scripted runner), an API whose client dials it,
and one real spamd for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.ai.server import AssistantServer
from maily.api.app import create_app, state_from
from maily.api.deps import get_session
from maily.config import AISettings, Settings
from maily.kit.db import AsyncSession
from maily.kit.queue import JobQueue
from tests.ai.checks.spamd import Spamd, running_spamd
from tests.ai.fakes import FakeAnthropic, FakeOpenAI
from tests.ai.scripted import Script, scripted_runner

FAKE_OPENAI_KEY = "sk-fake-openai-key"
FAKE_ANTHROPIC_KEY = "sk-ant-fake-key"


@pytest.fixture(scope="session")
def spamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spamd]:
    """A real spamd on a free loopback port, one for the whole session."""
    with running_spamd(tmp_path_factory.mktemp("spamd")) as server:
        yield server


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """An OpenAI-compatible server accepting only FAKE_OPENAI_KEY; base_url ends in /v1."""
    with FakeOpenAI(api_key=FAKE_OPENAI_KEY) as fake:
        yield fake


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """An Anthropic-compatible server accepting only FAKE_ANTHROPIC_KEY."""
    with FakeAnthropic(api_key=FAKE_ANTHROPIC_KEY) as fake:
        yield fake


def quick_ai_settings(port: int, **overrides: Any) -> AISettings:
    """Client settings for tests: short deadlines, quick retries, a small breaker."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "deadline_seconds": 10.0,
        "retries": 2,
        "retry_base_seconds": 0.02,
        "retry_max_seconds": 0.1,
        "breaker_failure_threshold": 3,
        "breaker_reset_seconds": 30.0,
    }
    values.update(overrides)
    return AISettings(**values)


@dataclass
class Assistant:
    server: AssistantServer
    script: Script

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture
async def assistant() -> AsyncIterator[Assistant]:
    script = Script()
    server = AssistantServer(scripted_runner(script), host="127.0.0.1", port=0)
    await server.start()
    yield Assistant(server, script)
    await server.stop(0)


def savepoint_sessions(session: AsyncSession) -> Any:
    """The request's unit of work as a savepoint in the test's transaction (as tests/conftest)."""

    async def test_session() -> AsyncIterator[AsyncSession]:
        request_transaction = await session.begin_nested()
        try:
            yield session
        except BaseException:
            await request_transaction.rollback()
            raise
        await request_transaction.commit()
        await session.jobs.flush()

    return test_session


async def api_for(
    settings: Settings, engine: AsyncEngine, redis: Redis, session: AsyncSession, ai: AISettings
) -> tuple[Any, httpx.AsyncClient]:
    ai_settings = settings.model_copy(update={"ai": ai})
    state = state_from(ai_settings, engine, redis)
    app = create_app(ai_settings, state=state)
    app.dependency_overrides[get_session] = savepoint_sessions(session)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    return app, client


@pytest.fixture
async def ai_api(
    settings: Settings,
    engine: AsyncEngine,
    redis: Redis,
    session: AsyncSession,
    job_queue_for_requests: JobQueue,
    assistant: Assistant,
) -> AsyncIterator[httpx.AsyncClient]:
    """An API (in process, real database and Redis) whose AI client dials `assistant`."""
    app, client = await api_for(settings, engine, redis, session, quick_ai_settings(assistant.port))
    async with client:
        yield client
    ai_client = getattr(app.state, "ai_client", None)
    if ai_client is not None:
        await ai_client.close()
    await app.state.maily.storage.aclose()
