"""Stream events whose facts are committed, held until the event stream has them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, UUIDMixin


class PendingEvent(UUIDMixin, Base):
    """One event of a bounce, complaint or provider report, written in the transaction
    that records the report and deleted once the event is in the stream
    (`maily.analytics.relay`). It names a delivery only, like the stream entry it
    becomes; no API reads it."""

    __tablename__ = "pending_events"
    __table_args__ = (Index("ix_pending_events_created_at", "created_at"),)

    # The stream entry's fields (`maily.analytics.stream.encode_event`).
    fields: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
