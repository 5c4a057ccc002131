"""Request and response models for contact imports."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from maily.kit.schemas import Schema

__all__ = [
    "ImportMode",
    "ImportOut",
    "ImportProgress",
    "ImportStatus",
    "ImportUpdate",
    "ImportUploaded",
]

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Target = Annotated[
    str,
    StringConstraints(max_length=80),
    Field(
        description=(
            "email, first_name, last_name, timezone, locale, tags, field:<custom field key>, "
            "or ignore"
        )
    ),
]


class ImportMode(StrEnum):
    """What happens to a row whose address is already a contact (see docs/importing.md).

    New addresses always become contacts, with the import's lists and tags."""

    add_only = "add_only"  # details kept; the import's lists and tags are added
    update_existing = "update_existing"  # non-empty cells overwrite; lists and tags added
    skip_existing = "skip_existing"  # left entirely alone: no details, lists or tags


class ImportStatus(StrEnum):
    uploaded = "uploaded"  # waiting for its mapping to be confirmed and the import started
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class ImportUpdate(Schema):
    """Any subset; only an import that has not started can be changed."""

    mapping: dict[Annotated[str, StringConstraints(max_length=200)], Target] | None = Field(
        default=None,
        max_length=500,
        description="Column name → target. Columns left out are ignored.",
    )
    mode: ImportMode | None = None
    list_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=50, description="Lists every imported contact is subscribed to"
    )
    tags: list[Tag] | None = Field(
        default=None, max_length=50, description="Tags added to every imported contact"
    )


class ImportProgress(Schema):
    phase: Literal["reading", "merging", "subscribing", "reporting", "done"]
    percent: float = Field(description="0 to 100; reading the file is the first 20")
    rows_per_second: float
    bytes_read: int


class ImportOut(Schema):
    id: uuid.UUID
    status: ImportStatus
    filename: str
    size_bytes: int
    format: Literal["csv", "jsonl"]
    delimiter: str | None
    encoding: str | None
    columns: list[str]
    mapping: dict[str, str]
    mode: ImportMode
    list_ids: list[uuid.UUID]
    tags: list[str]
    rows_total: int = Field(description="Data rows in the file (blank ones not counted)")
    rows_processed: int = Field(description="Rows read so far")
    rows_created: int
    rows_updated: int = Field(description="Existing contacts whose details changed")
    rows_skipped: int = Field(description="Existing contacts whose details were left as they were")
    rows_invalid: int = Field(description="Rows not imported: a bad or repeated address")
    rows_duplicate: int = Field(description="Repeated addresses (counted as invalid)")
    rows_role: int = Field(description="Role addresses (imported)")
    rows_suppressed: int = Field(
        description="Suppressed addresses (imported, subscribed to no list)"
    )
    subscriptions: int = Field(description="List subscriptions made")
    progress: ImportProgress | None = None
    has_error_report: bool
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportUploaded(ImportOut):
    sample: list[list[str]] = Field(
        description="The first rows of the file, cut short, to check the mapping against"
    )
