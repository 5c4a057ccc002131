"""Engagement events (sent, delivered, open, click, bounce, complaint, unsubscribe).

Append-only and large: partitioned by month on `occurred_at`. Segments read it for
engagement rules; the analytics service writes it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, PrimaryKeyConstraint, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, new_uuid

EVENT_TYPES = ("sent", "delivered", "open", "click", "bounce", "complaint", "unsubscribe")


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        # The partition key must be part of the primary key.
        PrimaryKeyConstraint("workspace_id", "occurred_at", "id"),
        Index("ix_events_contact", "workspace_id", "contact_id", "type", "occurred_at"),
        Index("ix_events_campaign", "workspace_id", "campaign_id", "type"),
        # Engagement rules in segments scan one type over a time window.
        Index(
            "ix_events_engagement",
            "workspace_id",
            "type",
            "occurred_at",
            postgresql_include=["contact_id"],
        ),
        # A stream entry is stored once however often it is delivered (the partition key
        # must be part of a unique index; the time is the entry's own, so it's the same).
        Index("uq_events_stream_id", "stream_id", "occurred_at", unique=True),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    id: Mapped[uuid.UUID] = mapped_column(default=new_uuid)
    contact_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column()
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    delivery_id: Mapped[uuid.UUID | None] = mapped_column()
    # The Redis stream entry the event came from (NULL for events made otherwise).
    stream_id: Mapped[str | None] = mapped_column(String(32))
    # NULL for a person; otherwise why it's taken for a machine (proxy, scanner, ...).
    machine: Mapped[str | None] = mapped_column(String(16))
    link_index: Mapped[int | None] = mapped_column(Integer)
    variant: Mapped[str | None] = mapped_column(String(1))
    data: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
