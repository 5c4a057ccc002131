"""Request and response models for contact exports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from maily.contacts.exports.columns import DEFAULT_FIELDS
from maily.kit.schemas import ORMSchema, Schema

ExportSource = Literal["list", "segment", "all"]
ExportFormat = Literal["csv", "jsonl"]
ExportStatus = Literal["queued", "running", "completed", "failed"]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class ExportCreate(Schema):
    """What to export: a list's members, a saved segment's matches, or every contact."""

    source: ExportSource = "all"
    source_id: uuid.UUID | None = Field(
        default=None, description="The list or segment id; none for source=all"
    )
    format: ExportFormat = "csv"
    fields: list[FieldName] = Field(
        default_factory=lambda: list(DEFAULT_FIELDS),
        min_length=1,
        max_length=100,
        description=(
            "Columns in order: contact attributes (id, email, first_name, last_name, status, "
            "timezone, locale, tags, source, created_at, updated_at, last_sent_at, "
            "last_open_at, last_click_at, sends_count, opens_count, clicks_count), "
            "`fields.<key>` for a custom field, `list_status` (list exports) and `lists`"
        ),
    )

    @model_validator(mode="after")
    def _source_and_fields(self) -> ExportCreate:
        if self.source == "all" and self.source_id is not None:
            raise ValueError("source_id must be empty when exporting all contacts")
        if self.source != "all" and self.source_id is None:
            raise ValueError(f"source_id is required when exporting a {self.source}")
        repeated = sorted({f for f in self.fields if self.fields.count(f) > 1})
        if repeated:
            raise ValueError(f"fields are repeated: {', '.join(repeated)}")
        return self


class ExportOut(ORMSchema):
    id: uuid.UUID
    status: ExportStatus
    source: ExportSource
    source_id: uuid.UUID | None
    format: ExportFormat
    fields: list[str]
    rows: int
    error: str | None
    created_by: uuid.UUID | None
    created_at: datetime
    finished_at: datetime | None
