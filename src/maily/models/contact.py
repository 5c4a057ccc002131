"""Contacts and their custom field definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Computed,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class Contact(TenantMixin, UUIDMixin, TimestampMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # One row per address and workspace. Pattern ops serve prefix search ("ann%")
        # under any collation as well as equality, so one index does both jobs.
        Index(
            "uq_contacts_workspace_id_email",
            "workspace_id",
            "email",
            unique=True,
            postgresql_ops={"email": "text_pattern_ops"},
        ),
        Index("ix_contacts_domain", "workspace_id", "domain"),
        Index("ix_contacts_tags", "tags", postgresql_using="gin"),
        Index(
            "ix_contacts_fields",
            "fields",
            postgresql_using="gin",
            postgresql_ops={"fields": "jsonb_path_ops"},
        ),
        # "Opened / clicked any campaign within N days" reads these, not the events.
        # Only contacts who engaged are indexed: every rule on them implies NOT NULL,
        # and new contacts (an import's million) add no entries.
        Index(
            "ix_contacts_last_open",
            "workspace_id",
            "last_open_at",
            postgresql_where=text("last_open_at IS NOT NULL"),
        ),
        Index(
            "ix_contacts_last_click",
            "workspace_id",
            "last_click_at",
            postgresql_where=text("last_click_at IS NOT NULL"),
        ),
    )

    # Normalised: trimmed and lower-cased, so one person is one row per workspace.
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    # Derived in the database so bulk imports (COPY) can never disagree with it.
    email_hash: Mapped[bytes] = mapped_column(
        LargeBinary(32), Computed("maily_sha256_text(email)", persisted=True)
    )
    domain: Mapped[str] = mapped_column(
        String(255), Computed("split_part(email, '@', 2)", persisted=True)
    )
    first_name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    last_name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    # subscribed | unsubscribed | bounced | complained | cleaned
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="subscribed")
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(35))
    # Custom field values by field key, validated against the workspace's definitions.
    fields: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(String(100)), nullable=False, server_default=text("'{}'::varchar[]")
    )
    # import | api | form | admin
    source: Mapped[str] = mapped_column(String(16), nullable=False, server_default="api")
    # Kept current by the analytics service (the latest of each, never moved back);
    # segment rules on engagement with any campaign read these columns.
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_open_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_click_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sends_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    opens_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    clicks_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class CustomField(TenantMixin, UUIDMixin, TimestampMixin, Base):
    """A typed field a workspace defines for its contacts."""

    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    key: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    # text | number | date | boolean | choice
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    choices: Mapped[list[str]] = mapped_column(
        ARRAY(String(200)), nullable=False, server_default=text("'{}'::varchar[]")
    )
