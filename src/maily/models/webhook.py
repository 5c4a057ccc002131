"""Outbound webhooks: endpoints a workspace subscribes, each event sent to one, each attempt."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.crypto import EncryptedText
from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class WebhookEndpoint(TenantMixin, UUIDMixin, TimestampMixin, Base):
    """A URL that receives the workspace's events of the chosen types."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False)
    # The signing secret (whsec_…), shown once when made, encrypted at rest.
    secret: Mapped[str] = mapped_column(EncryptedText, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # Failed attempts since the last success; past the setting the endpoint is disabled.
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(TenantMixin, UUIDMixin, TimestampMixin, Base):
    """One event for one endpoint, sent until it succeeds or its attempts run out."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # Replaying a stream entry (or a state change) makes no second delivery.
        UniqueConstraint("workspace_id", "endpoint_id", "event_id"),
        ForeignKeyConstraint(
            ["workspace_id", "endpoint_id"],
            ["webhook_endpoints.workspace_id", "webhook_endpoints.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'cancelled')", name="status"),
        # The delivery log of one endpoint, newest first.
        Index("ix_webhook_deliveries_endpoint", "workspace_id", "endpoint_id", "id"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    # Where the event came from: "s:<stream entry id>", "c:<campaign>:<state>:<ms>", "p:<uuid>".
    event_id: Mapped[str] = mapped_column(String(128), nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_response_status: Mapped[int | None] = mapped_column(Integer)
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(TenantMixin, UUIDMixin, Base):
    """The log: one row per HTTP attempt, whatever came of it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "delivery_id"],
            ["webhook_deliveries.workspace_id", "webhook_deliveries.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("outcome IN ('succeeded', 'failed')", name="outcome"),
        Index("ix_webhook_attempts_delivery", "workspace_id", "delivery_id", "attempt"),
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    outcome: Mapped[str] = mapped_column(String(12), nullable=False)
    response_status: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str | None] = mapped_column(String(1000))
    # The start of the receiver's answer, for debugging (never more than 500 characters).
    response_excerpt: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()"), nullable=False
    )
