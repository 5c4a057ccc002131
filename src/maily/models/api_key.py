"""API keys: shown once, stored as a hash, scoped to one workspace and a set of permissions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, DateTime, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class APIKey(TenantMixin, UUIDMixin, TimestampMixin, Base):
    __tablename__ = "api_keys"
    # Unique per workspace (distributable by workspace); the plain index serves
    # the look-up by hash, which cannot know the workspace yet.
    __table_args__ = (
        UniqueConstraint("workspace_id", "key_hash"),
        Index("ix_api_keys_key_hash", "key_hash"),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # The first characters of the key, shown in lists so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
