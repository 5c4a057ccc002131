"""Link tables: the index -> URL list a campaign's click tokens point into."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin


class LinkTable(TenantMixin, Base):
    """The tracked links of one compiled template version, exactly as a campaign's
    messages carried them. Never changed after it is written: its id is derived from
    its content (see `maily.tracking.links.link_table_id`)."""

    __tablename__ = "link_tables"
    __table_args__ = (
        # The click endpoint knows the table id only (from the token), not the workspace.
        Index("ix_link_tables_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-5)
    template_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    template_version: Mapped[int] = mapped_column(Integer, nullable=False)
    links: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
