"""What the AI assistant proposed: kept until a person accepts it (it becomes a
template) or discards it. Nothing generated is ever sent without that step."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class AISuggestion(TenantMixin, UUIDMixin, TimestampMixin, Base):
    __tablename__ = "ai_suggestions"
    __table_args__ = (
        # One suggestion per task: a result is stored once, whoever reports it.
        UniqueConstraint("workspace_id", "task_id"),
        CheckConstraint(
            "kind IN ('draft_campaign', 'revise_template', 'subject_lines', 'personalisation')",
            name="kind",
        ),
        # Listing newest first walks the primary key (workspace_id, id).
        CheckConstraint("status IN ('ready', 'accepted', 'discarded')", name="status"),
    )

    task_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="ready")
    # The task as asked (its fields, without the brand), and its typed result as JSON.
    request: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # Who asked: a member (None when an API key did).
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    # The template an accepted suggestion became.
    template_id: Mapped[uuid.UUID | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
