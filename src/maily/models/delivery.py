"""The delivery ledger: one row per (campaign, contact), the record of what was sent."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class Delivery(TenantMixin, UUIDMixin, TimestampMixin, Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        # One message per contact per campaign, however the audience overlaps.
        UniqueConstraint("workspace_id", "campaign_id", "contact_id"),
        ForeignKeyConstraint(
            ["workspace_id", "campaign_id"],
            ["campaigns.workspace_id", "campaigns.id"],
            ondelete="CASCADE",
        ),
        # Erasing a contact (GDPR) erases its address snapshot here too.
        ForeignKeyConstraint(
            ["workspace_id", "contact_id"],
            ["contacts.workspace_id", "contacts.id"],
            ondelete="CASCADE",
        ),
        Index("ix_deliveries_contact", "workspace_id", "contact_id"),
        # The senders' lease query: due rows in send order, and nothing else.
        Index(
            "ix_deliveries_due",
            "send_after",
            "id",
            postgresql_where=text("status IN ('queued', 'deferred')"),
        ),
        # Rows not settled yet: the scheduler's "is the campaign finished" probe.
        Index(
            "ix_deliveries_pending",
            "workspace_id",
            "campaign_id",
            postgresql_where=text("status IN ('queued', 'leased', 'deferred')"),
        ),
        # Tracking events and VERP return paths name a delivery by its id alone (no
        # workspace); the analytics service resolves a batch of them in one query.
        Index("ix_deliveries_id", "id"),
        # Provider webhooks name a message by the provider's id.
        Index(
            "ix_deliveries_provider_message_id",
            "provider_message_id",
            postgresql_where=text("provider_message_id IS NOT NULL"),
        ),
        # Leases of crashed senders, taken back by the same query. Only leased rows
        # have a lease_expires_at; the predicate says so rather than `status =
        # 'leased'`, which the result write's WHERE would match (migration 0020).
        Index(
            "ix_deliveries_lease_expires",
            "lease_expires_at",
            postgresql_where=text("lease_expires_at IS NOT NULL"),
        ),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    contact_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    # A/B variant letter; NULL for a campaign without a test, and for the held-back
    # rest of the audience until the winner is known.
    variant: Mapped[str | None] = mapped_column(String(1))
    # The address when the ledger was made: the one the message goes to.
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    # queued | leased | sent | deferred | bounced | failed | unknown | skipped
    status: Mapped[str] = mapped_column(String(12), nullable=False, server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Not before: timezone waves, A/B holdback ('infinity'), retry backoff.
    send_after: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The retry window counts from the first attempt.
    first_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    last_code: Mapped[int | None] = mapped_column(Integer)
    last_detail: Mapped[str | None] = mapped_column(String(1000))
    # First engagement, kept by the analytics service: unique opens and clicks are the
    # rows whose first one it recorded (human = not a proxy, scanner or prefetch).
    first_open_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_human_open_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_click_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_human_click_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
