"""Messages the outbox transport kept instead of delivering, for people to look at."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, UUIDMixin


class OutboxMessage(TenantMixin, UUIDMixin, Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        # Listing is newest first (UUIDv7 ids), optionally for one recipient or delivery.
        Index("ix_outbox_messages_recipient", "workspace_id", "recipient", "id"),
        Index("ix_outbox_messages_delivery", "workspace_id", "delivery_id"),
    )

    # The delivery ledger row the message was for; none for test sends. No foreign
    # key: clearing the ledger must not be blocked by mail kept for viewing.
    delivery_id: Mapped[uuid.UUID | None] = mapped_column()
    envelope_from: Mapped[str] = mapped_column(String(320), nullable=False)
    recipient: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    # The complete message as a transport would have sent it (RFC 5322, CRLF).
    raw: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
