"""Alembic, driven from code: `maily migrate`, `maily up` and the test suite use this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

# Tables partitioned in the database; their partitions are not declared as models.
PARTITIONED_TABLES = ("events",)


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic filter: leave out partitions (events_2026_11, events_default) and their
    indexes, which migrations and maintenance jobs create, not models."""
    table = getattr(getattr(obj, "table", None), "name", None) if type_ == "index" else name
    return not (reflected and compare_to is None and _is_partition(table))


def _is_partition(name: str | None) -> bool:
    return name is not None and any(name.startswith(f"{parent}_") for parent in PARTITIONED_TABLES)


def migrations_dir() -> Path:
    package = Path(__file__).resolve().parents[2]
    for candidate in (package / "_migrations", package.parents[1] / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("the migrations folder is missing from this installation")


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations. Runs its own event loop: call it from sync code or a thread."""
    command.upgrade(alembic_config(database_url), revision)
