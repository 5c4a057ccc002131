"""Database building blocks: engine, sessions, the declarative base, transactions."""

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin
from maily.kit.db.engine import create_engine, create_sessionmaker
from maily.kit.db.session import AsyncSession, transaction

__all__ = [
    "AsyncSession",
    "Base",
    "TenantMixin",
    "TimestampMixin",
    "UUIDMixin",
    "create_engine",
    "create_sessionmaker",
    "transaction",
]
