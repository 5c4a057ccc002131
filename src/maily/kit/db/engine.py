"""Async engine and session factory."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from maily.kit.db.session import AsyncSession


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and pick the asyncpg driver."""
    for prefix in (
        "postgresql+psycopg://",
        "postgresql+asyncpg://",
        "postgres://",
        "postgresql://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def sync_url(url: str) -> str:
    """The same database through psycopg (Alembic, COPY)."""
    return "postgresql+psycopg://" + async_url(url)[len("postgresql+asyncpg://") :]


def create_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, echo: bool = False
) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        echo=echo,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, autoflush=False)
