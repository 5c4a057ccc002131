"""Response models for GDPR access (a contact's data) and erasure."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from maily.kit.schemas import Schema


class ContactProfile(Schema):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    status: str
    timezone: str | None
    locale: str | None
    source: str
    created_at: datetime
    updated_at: datetime
    last_sent_at: datetime | None
    last_open_at: datetime | None
    last_click_at: datetime | None
    sends_count: int
    opens_count: int
    clicks_count: int


class CustomFieldValue(Schema):
    key: str
    label: str
    value: Any


class ListMembershipRecord(Schema):
    list_id: uuid.UUID
    list_name: str
    status: str
    joined_at: datetime
    updated_at: datetime


class ConsentRecordOut(Schema):
    id: uuid.UUID
    list_id: uuid.UUID | None
    action: str
    source: str
    channel: str | None
    reason: str | None
    ip: str | None
    user_agent: str | None
    occurred_at: datetime


class EventRecord(Schema):
    id: uuid.UUID
    type: str
    occurred_at: datetime
    campaign_id: uuid.UUID | None
    data: dict[str, Any]


class SuppressionRecord(Schema):
    id: uuid.UUID
    reason: str
    note: str
    created_at: datetime


class ContactDataExport(Schema):
    """Everything the workspace holds about one person (GDPR art. 15 and 20)."""

    exported_at: datetime
    workspace_id: uuid.UUID
    contact: ContactProfile
    custom_fields: list[CustomFieldValue]
    tags: list[str]
    list_memberships: list[ListMembershipRecord]
    consent_records: list[ConsentRecordOut]
    events: list[EventRecord]
    suppressions: list[SuppressionRecord] = Field(
        description="Entries that keep this address from being mailed"
    )


class ErasureOut(Schema):
    contact_id: uuid.UUID
    email_sha256: str = Field(
        description="SHA-256 (hex) of the erased address, kept to suppress it"
    )
    suppression_id: uuid.UUID
    events_deleted: int
