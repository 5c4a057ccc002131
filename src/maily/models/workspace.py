"""A workspace: the tenant every audience, campaign and event belongs to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TimestampMixin, UUIDMixin


class Workspace(UUIDMixin, TimestampMixin, Base):
    __tablename__ = "workspaces"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    slug: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    # CAN-SPAM: every campaign must carry the sender's physical postal address.
    postal_address: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    # Brand settings the AI assistant writes with: name, voice, primary_color,
    # font_family, logo_url, website_url (see maily.auth.schemas.BrandSettings).
    brand: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
