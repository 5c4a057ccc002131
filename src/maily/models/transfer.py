"""Contact imports and exports: background jobs with progress and a result file."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, BigInteger, DateTime, Integer, String, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


class ContactImport(TenantMixin, UUIDMixin, TimestampMixin, Base):
    __tablename__ = "contact_imports"

    # uploaded | queued | running | completed | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="uploaded")
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    object_key: Mapped[str] = mapped_column(String(500), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    # csv | jsonl
    format: Mapped[str] = mapped_column(String(8), nullable=False)
    delimiter: Mapped[str | None] = mapped_column(String(1))
    encoding: Mapped[str | None] = mapped_column(String(16))
    # The file's columns, and which contact attribute each one fills.
    columns: Mapped[list[str]] = mapped_column(
        ARRAY(String(200)), nullable=False, server_default=text("'{}'::varchar[]")
    )
    mapping: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    # add_only | update_existing | skip_existing
    mode: Mapped[str] = mapped_column(String(16), nullable=False, server_default="add_only")
    list_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(Uuid()), nullable=False, server_default=text("'{}'::uuid[]")
    )
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(String(100)), nullable=False, server_default=text("'{}'::varchar[]")
    )
    rows_total: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    rows_processed: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    rows_created: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    rows_updated: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    rows_skipped: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    rows_invalid: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Repeated addresses (counted in rows_invalid), role addresses and suppressed ones
    # (both imported), and the list subscriptions made.
    rows_duplicate: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    rows_role: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    rows_suppressed: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    subscriptions: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    error_report_key: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(String(2000))
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContactExport(TenantMixin, UUIDMixin, TimestampMixin, Base):
    __tablename__ = "contact_exports"

    # queued | running | completed | failed
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    # list | segment | all
    source: Mapped[str] = mapped_column(String(8), nullable=False)
    source_id: Mapped[uuid.UUID | None] = mapped_column()
    # csv | jsonl
    format: Mapped[str] = mapped_column(String(8), nullable=False)
    fields: Mapped[list[str]] = mapped_column(ARRAY(String(100)), nullable=False)
    object_key: Mapped[str | None] = mapped_column(String(500))
    rows: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    error: Mapped[str | None] = mapped_column(String(2000))
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
