"""Request and response models for webhook endpoints and their delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from maily.kit.schemas import ORMSchema, Schema

EventType = Literal[
    "email.delivered",
    "email.opened",
    "email.clicked",
    "email.bounced",
    "email.complained",
    "contact.unsubscribed",
    "campaign.state_changed",
]


class WebhookCreate(Schema):
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="https URL whose host resolves only to public addresses",
        examples=["https://hooks.example.com/maily"],
    )
    event_types: list[EventType] = Field(min_length=1, max_length=20)
    description: str = Field(default="", max_length=500)


class WebhookUpdate(Schema):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    event_types: list[EventType] | None = Field(default=None, min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=500)
    # true re-enables an endpoint that was disabled (by hand or after failures).
    enabled: bool | None = None


class WebhookOut(ORMSchema):
    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    consecutive_failures: int
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(
        description="The signing secret. Shown only now: store it with the receiver."
    )


class WebhookSecretOut(Schema):
    secret: str = Field(description="The new signing secret; the old one stops working now.")


class WebhookAttemptOut(ORMSchema):
    attempt: int
    outcome: Literal["succeeded", "failed"]
    response_status: int | None
    duration_ms: int
    error: str | None
    response_excerpt: str | None
    created_at: datetime


class WebhookDeliveryOut(ORMSchema):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: str
    event_type: str
    status: Literal["pending", "succeeded", "failed", "cancelled"]
    attempts: int
    next_attempt_at: datetime | None
    last_response_status: int | None
    succeeded_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]
    attempt_log: list[WebhookAttemptOut] = Field(default_factory=list)


class EventTypeOut(Schema):
    type: str
    description: str
