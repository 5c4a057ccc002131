"""Models and migrations agree, and migrations run from an empty database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from maily.kit.db.engine import sync_url
from maily.kit.db.migrate import include_object, upgrade
from maily.models import Base
from tests.conftest import Stores, _worker_index, create_database


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_object": include_object,
                },
            )
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], (
        "models and migrations disagree; write a migration "
        f"(alembic revision --autogenerate): {differences[:5]}"
    )


def test_upgrade_is_idempotent_from_empty(stores: Stores) -> None:
    url = create_database(stores, f"maily_test_{_worker_index()}_fresh")
    upgrade(url)
    upgrade(url)  # a second run finds nothing to do
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            tables = set(
                conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                ).scalars()
            )
    finally:
        engine.dispose()
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
