"""Sending domains (DKIM key, DNS checks) and the sender identities that use them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.crypto import EncryptedText
from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class SendingDomain(TenantMixin, UUIDMixin, TimestampMixin, Base):
    __tablename__ = "sending_domains"
    __table_args__ = (
        UniqueConstraint("workspace_id", "domain"),
        CheckConstraint(
            "dkim_algorithm IN ('rsa-sha256', 'ed25519-sha256')", name="dkim_algorithm"
        ),
    )

    # Lowercase, IDNA (punycode) form, no trailing dot.
    domain: Mapped[str] = mapped_column(String(253), nullable=False)
    dkim_selector: Mapped[str] = mapped_column(String(63), nullable=False)
    dkim_algorithm: Mapped[str] = mapped_column(String(16), nullable=False)
    # PKCS #8 PEM, encrypted at rest.
    dkim_private_key: Mapped[str] = mapped_column(EncryptedText, nullable=False)
    # p= of the DKIM record (base64), kept so listing domains decrypts nothing.
    dkim_public_key: Mapped[str] = mapped_column(Text, nullable=False)
    # Where the VERP envelope sender lives, fixed at creation so a settings change
    # cannot silently move the bounces of domains already published.
    return_path_domain: Mapped[str] = mapped_column(String(253), nullable=False)
    # Result of the last DNS check, per record purpose:
    # {"dkim": {"status": "verified", "detail": null, "found": [...]}, ...}
    dns_checks: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When every required record was first found as asked. A later failing check
    # does not clear it (a DNS hiccup must not stop a running campaign); the
    # per-record statuses show it.
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Sender(TenantMixin, UUIDMixin, TimestampMixin, Base):
    """A From identity (name, address on a sending domain, Reply-To) campaigns use."""

    __tablename__ = "senders"
    __table_args__ = (
        # No cascade: a domain cannot disappear from under the senders that sign
        # with it. (NO ACTION, not RESTRICT: deleting the workspace removes both in
        # one statement, and NO ACTION checks only when that statement is done.)
        ForeignKeyConstraint(
            ["workspace_id", "sending_domain_id"],
            ["sending_domains.workspace_id", "sending_domains.id"],
        ),
        Index("ix_senders_sending_domain", "workspace_id", "sending_domain_id"),
    )

    sending_domain_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    from_name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    from_email: Mapped[str] = mapped_column(String(320), nullable=False)
    reply_to: Mapped[str | None] = mapped_column(String(320))
