"""Test fixtures: real PostgreSQL and Redis (local when they answer, embedded otherwise),
one database per test worker built by the migrations, each test rolled back."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from maily.api.app import create_app, state_from
from maily.api.deps import get_session
from maily.api.state import AppState
from maily.config import Environment, Settings
from maily.kit.db import AsyncSession, create_engine, create_sessionmaker
from maily.kit.db.migrate import upgrade
from maily.kit.embedded import local_or_embedded
from maily.kit.queue import JobQueue, current_queue, set_current_queue

TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
TEST_ENCRYPTION_KEY = Fernet.generate_key().decode()


@dataclass(frozen=True)
class Stores:
    admin_database_url: str
    redis_url: str


def _worker_index() -> int:
    """This test process's slot: its database and Redis index are its own.

    MAILY_TEST_SLOT separates suites run side by side on one machine (slot N takes
    Redis index 1 + N); xdist workers within a suite add their own number."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    slot = int(os.environ.get("MAILY_TEST_SLOT", "0"))
    return slot + int(worker.removeprefix("gw") or 0)


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    admin_url, redis_url, embedded = local_or_embedded(tmp_path_factory.mktemp("stores"))
    try:
        yield Stores(admin_url, redis_url)
    finally:
        if embedded is not None:
            embedded.__exit__(None, None, None)


def _with_database(url: str, name: str) -> str:
    """Swap the database name in a postgresql:// URL, keeping query args (socket host)."""
    head, _, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def _psycopg_conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://").replace(
        "postgresql+asyncpg://", "postgresql://"
    )


def create_database(stores: Stores, name: str) -> str:
    with psycopg.connect(_psycopg_conninfo(stores.admin_database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(stores.admin_database_url, name)


@pytest.fixture(scope="session")
def database_url(stores: Stores) -> str:
    url = create_database(stores, f"maily_test_{_worker_index()}")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url(stores: Stores) -> str:
    base = stores.redis_url.rsplit("/", 1)[0]
    return f"{base}/{1 + _worker_index()}"


_OBJECTS = tempfile.mkdtemp(prefix="maily-test-objects-")
atexit.register(shutil.rmtree, _OBJECTS, ignore_errors=True)


def make_settings(database_url: str, redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "storage": {"backend": "local", "local_path": _OBJECTS},
        "environment": Environment.test,
        "database_url": database_url,
        "redis_url": redis_url,
        "security": {
            "secret_key": TEST_SECRET_KEY,
            "encryption_keys": [TEST_ENCRYPTION_KEY],
        },
        "observability": {"log_json": False},
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url, redis_url)


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    assert settings.database.url
    engine = create_engine(settings.database.url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        yield conn
        await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session inside the test's outer transaction: its commits become savepoints,
    and everything is rolled back when the test ends."""
    sessionmaker = create_sessionmaker(connection)  # type: ignore[arg-type]
    sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def app_state(
    settings: Settings, engine: AsyncEngine, redis: Redis
) -> AsyncIterator[AppState]:
    state = state_from(settings, engine, redis)
    yield state
    await state.storage.aclose()


@pytest.fixture
async def job_queue_for_requests(app_state: AppState) -> AsyncIterator[JobQueue]:
    """The queue jobs enqueued by requests go to (after their savepoint commits), as
    under `maily api`; nothing works them unless a test runs them."""
    assert app_state.settings.redis.url
    queue = JobQueue.from_url(app_state.settings.redis.url, app_state.settings)
    await queue.connect()
    try:
        previous = current_queue()
    except RuntimeError:
        previous = None
    set_current_queue(queue)
    yield queue
    set_current_queue(previous)
    await queue.disconnect()


@pytest.fixture
async def app(app_state: AppState, session: AsyncSession, job_queue_for_requests: JobQueue) -> Any:
    app = create_app(app_state.settings, state=app_state)

    async def test_session() -> AsyncIterator[AsyncSession]:
        # The production unit of work, as a savepoint inside the test's transaction:
        # a failed request leaves nothing behind, a good one stays visible to the test.
        request_transaction = await session.begin_nested()
        try:
            yield session
        except BaseException:
            await request_transaction.rollback()
            session.jobs.clear()
            raise
        await request_transaction.commit()
        await session.jobs.flush()

    app.dependency_overrides[get_session] = test_session
    return app


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@dataclass
class Account:
    """A signed-up user with their first workspace, ready to call the API."""

    email: str
    password: str
    access_token: str
    refresh_token: str
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def sign_up(client: httpx.AsyncClient, email: str | None = None) -> Account:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery staple"
    response = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": password, "name": "Test", "workspace_name": "Acme"},
    )
    assert response.status_code == 201, response.text
    tokens = response.json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = (await client.get("/api/v1/me", headers=headers)).json()
    return Account(
        email=email.lower(),
        password=password,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        workspace_id=uuid.UUID(me["workspaces"][0]["id"]),
        user_id=uuid.UUID(me["user"]["id"]),
    )


@pytest.fixture
async def account(client: httpx.AsyncClient) -> Account:
    return await sign_up(client)
