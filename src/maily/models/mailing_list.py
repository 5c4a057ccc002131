"""Lists, memberships with a status per list, and the consent trail behind them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKeyConstraint,
    Index,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class MailingList(TenantMixin, UUIDMixin, TimestampMixin, Base):
    __tablename__ = "lists"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(String(1000), nullable=False, server_default="")
    # single | double
    opt_in: Mapped[str] = mapped_column(String(8), nullable=False, server_default="single")
    # public lists show on signup forms and the preference center; private ones do not.
    visibility: Mapped[str] = mapped_column(String(8), nullable=False, server_default="private")


class ListMembership(TenantMixin, TimestampMixin, Base):
    __tablename__ = "list_memberships"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "list_id"], ["lists.workspace_id", "lists.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["workspace_id", "contact_id"],
            ["contacts.workspace_id", "contacts.id"],
            ondelete="CASCADE",
        ),
        Index("ix_list_memberships_contact", "workspace_id", "contact_id"),
    )

    list_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # subscribed | unconfirmed (double opt-in pending) | unsubscribed
    status: Mapped[str] = mapped_column(String(16), nullable=False)


class ConsentRecord(TenantMixin, UUIDMixin, Base):
    """One change of consent: a subscription, its confirmation, or an unsubscribe."""

    __tablename__ = "consent_records"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "contact_id"],
            ["contacts.workspace_id", "contacts.id"],
            ondelete="CASCADE",
        ),
        Index("ix_consent_records_contact", "workspace_id", "contact_id", "occurred_at"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    list_id: Mapped[uuid.UUID | None] = mapped_column()
    # subscribe | confirm | unsubscribe
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    # import | api | form | admin (how a subscription came)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    # for unsubscribes: link | one_click | preference_center | mailto | admin | api |
    # complaint | bounce
    channel: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(500))
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
