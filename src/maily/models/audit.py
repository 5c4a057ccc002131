"""The audit log: who did what to which record, kept per workspace."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, UUIDMixin


class AuditEntry(TenantMixin, UUIDMixin, Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "workspace_id", "target_type", "target_id"),)

    # user:<id> | key:<id> | system
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    # e.g. contact.exported, contact.erased
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target_type: Mapped[str] = mapped_column(String(32), nullable=False)
    target_id: Mapped[uuid.UUID | None] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
