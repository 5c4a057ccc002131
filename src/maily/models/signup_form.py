"""Signup forms for a list, and the double opt-in confirmations they start."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class SignupForm(TenantMixin, UUIDMixin, TimestampMixin, Base):
    """A form that subscribes people to one list: hosted by Maily or embedded elsewhere."""

    __tablename__ = "signup_forms"
    # Unique per workspace (distributable by workspace); the plain index serves the
    # public look-up by public_id, which cannot know the workspace yet.
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "list_id"], ["lists.workspace_id", "lists.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("workspace_id", "public_id"),
        Index("ix_signup_forms_public_id", "public_id"),
        Index("ix_signup_forms_list", "workspace_id", "list_id"),
    )

    list_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    # Random and unguessable: the id in public URLs (/f/{public_id}), so form ids and
    # workspace ids never appear on the open web.
    public_id: Mapped[str] = mapped_column(String(32), nullable=False)
    # For the team; title and description are what visitors see.
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(String(2000), nullable=False, server_default="")
    # What to ask besides the address, in order: [{"key", "label", "required"}], where
    # key is first_name, last_name or a custom field key.
    fields: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    success_message: Mapped[str] = mapped_column(String(1000), nullable=False, server_default="")
    # Where to send the visitor after a submission, instead of the thank-you page.
    redirect_url: Mapped[str | None] = mapped_column(String(2000))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))


class SubscriptionConfirmation(TenantMixin, UUIDMixin, TimestampMixin, Base):
    """A double opt-in confirmation token (stored as a digest) for one pending membership."""

    __tablename__ = "subscription_confirmations"
    __table_args__ = (
        # Deleting the membership (or its list or contact) deletes its tokens.
        ForeignKeyConstraint(
            ["workspace_id", "list_id", "contact_id"],
            [
                "list_memberships.workspace_id",
                "list_memberships.list_id",
                "list_memberships.contact_id",
            ],
            ondelete="CASCADE",
        ),
        UniqueConstraint("workspace_id", "token_hash"),
        # The confirmation link carries only the token, so it is looked up without a workspace.
        Index("ix_subscription_confirmations_token_hash", "token_hash"),
        Index("ix_subscription_confirmations_membership", "workspace_id", "list_id", "contact_id"),
    )

    list_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    contact_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    # How the subscription came (import | api | form | admin); the confirmation's
    # consent record carries it on.
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
