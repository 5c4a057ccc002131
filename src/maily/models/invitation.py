"""An invitation to join a workspace with a role."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class Invitation(TenantMixin, UUIDMixin, TimestampMixin, Base):
    __tablename__ = "invitations"
    # Unique per workspace (distributable by workspace); the plain index serves
    # the look-up by hash, which cannot know the workspace yet.
    __table_args__ = (
        UniqueConstraint("workspace_id", "token_hash"),
        Index("ix_invitations_token_hash", "token_hash"),
    )

    email: Mapped[str] = mapped_column(String(320), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
