"""Request and response models of the outbox viewer."""

from __future__ import annotations

import uuid
from datetime import datetime

from maily.kit.schemas import ORMSchema, Schema


class OutboxMessageOut(ORMSchema):
    id: uuid.UUID
    delivery_id: uuid.UUID | None
    envelope_from: str
    recipient: str
    subject: str
    size: int
    created_at: datetime


class OutboxHeader(Schema):
    name: str
    value: str


class OutboxMessageDetail(OutboxMessageOut):
    """One kept message, read from its raw form."""

    # Every header in order, as the message carries them (DKIM-Signature included).
    headers: list[OutboxHeader]
    text: str | None
    html: str | None


class OutboxCleared(Schema):
    deleted: int
