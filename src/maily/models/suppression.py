"""Addresses and domains a workspace never sends to."""

from __future__ import annotations

from sqlalchemy import LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class SuppressionEntry(TenantMixin, UUIDMixin, TimestampMixin, Base):
    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("workspace_id", "kind", "value_hash"),)

    # address | domain
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    # The address or domain; NULL once the person was erased (GDPR), when only the
    # hash remains — enough to keep a re-imported address suppressed.
    value: Mapped[str | None] = mapped_column(String(320))
    # sha256 of the normalised value, the same digest contacts.email_hash holds.
    value_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    # hard_bounce | complaint | unsubscribe | manual | erased | import
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    note: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
