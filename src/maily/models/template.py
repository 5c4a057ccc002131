"""Email templates and every saved version of them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class Template(TenantMixin, UUIDMixin, TimestampMixin, Base):
    """A template, layout or reusable block; its content lives in its versions."""

    __tablename__ = "templates"
    __table_args__ = (
        # A layout still named by a template cannot be deleted from under it.
        ForeignKeyConstraint(
            ["workspace_id", "layout_id"], ["templates.workspace_id", "templates.id"]
        ),
        # Blocks are included by name, so a name means one block per workspace.
        Index(
            "ix_templates_block_name",
            "workspace_id",
            "name",
            unique=True,
            postgresql_where=text("role = 'block'"),
        ),
        Index("ix_templates_layout", "workspace_id", "layout_id"),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # mjml | html
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    # template | layout | block
    role: Mapped[str] = mapped_column(String(16), nullable=False, server_default="template")
    layout_id: Mapped[uuid.UUID | None] = mapped_column()
    # The newest version's number; versions count from 1.
    current_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")


class TemplateVersion(TenantMixin, UUIDMixin, Base):
    """One saved state of a template. Never changed after it is written."""

    __tablename__ = "template_versions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "template_id"],
            ["templates.workspace_id", "templates.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("workspace_id", "template_id", "version"),
    )

    template_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    subject: Mapped[str] = mapped_column(String(2000), nullable=False, server_default="")
    preheader: Mapped[str] = mapped_column(String(2000), nullable=False, server_default="")
    layout_id: Mapped[uuid.UUID | None] = mapped_column()
    # The link table (index -> URL) as compiled when saved, with the layout and blocks
    # of that moment; a campaign keeps its own copy from when it starts sending.
    links: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
