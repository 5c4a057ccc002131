"""Bounces and complaints received for deliveries: the history, and the soft-bounce window."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKeyConstraint, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, UUIDMixin


class BounceRecord(TenantMixin, UUIDMixin, Base):
    __tablename__ = "bounces"
    __table_args__ = (
        # One row per provider event: a webhook delivered twice records once.
        UniqueConstraint("workspace_id", "source", "event_key"),
        # Erasing a contact erases its deliveries, and with them these rows.
        ForeignKeyConstraint(
            ["workspace_id", "delivery_id"],
            ["deliveries.workspace_id", "deliveries.id"],
            ondelete="CASCADE",
        ),
        # "Soft bounces of this contact in the last N days", and a contact's history.
        Index("ix_bounces_contact", "workspace_id", "contact_id", "kind", "occurred_at"),
        Index("ix_bounces_delivery", "workspace_id", "delivery_id"),
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    contact_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    campaign_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    # hard | soft | complaint
    kind: Mapped[str] = mapped_column(String(12), nullable=False)
    # ses | postmark | sendgrid | mailgun | inbound
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    # The provider's event id, or a digest of the report, so a repeat is recognised.
    event_key: Mapped[str] = mapped_column(String(255), nullable=False)
    # Enhanced status (5.1.1) or SMTP code (550) or the provider's type, as reported.
    code: Mapped[str] = mapped_column(String(32), nullable=False, server_default="")
    diagnostic: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    # What it did: recorded | suppressed | cleaned | complained
    effect: Mapped[str] = mapped_column(String(16), nullable=False, server_default="recorded")
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
