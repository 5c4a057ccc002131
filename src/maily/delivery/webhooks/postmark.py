"""Postmark's bounce, spam complaint and delivery webhooks.

Postmark does not sign its webhooks; it sends the HTTP basic auth credentials written
into the webhook URL (https://user:password@host/...), which are checked in constant
time. Each record carries its own id and time, used against replays."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from datetime import datetime
from typing import Any

from maily.config import PostmarkSettings
from maily.delivery.bounces.classification import classify_postmark, status_of
from maily.delivery.bounces.feedback import Feedback, FeedbackKind, Source
from maily.delivery.webhooks.guard import MalformedWebhook, WebhookRejected, parse_time


def check_basic_auth(authorization: str | None, settings: PostmarkSettings) -> None:
    assert settings.webhook_username
    assert settings.webhook_password
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookRejected("the Postmark webhook needs its basic auth credentials")
    try:
        user, colon, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise WebhookRejected("malformed basic auth credentials") from exc
    good_user = hmac.compare_digest(user.encode(), settings.webhook_username.encode())
    good_password = hmac.compare_digest(
        password.encode(), settings.webhook_password.get_secret_value().encode()
    )
    if not (colon and good_user and good_password):
        raise WebhookRejected("wrong Postmark webhook credentials")


def parse_record(body: bytes) -> dict[str, Any]:
    try:
        record = json.loads(body)
    except ValueError as exc:
        raise MalformedWebhook("the body is not JSON") from exc
    if not isinstance(record, dict) or not isinstance(record.get("RecordType"), str):
        raise MalformedWebhook("the body is not a Postmark webhook record")
    return record


def record_time(record: dict[str, Any]) -> datetime:
    raw = record.get("BouncedAt") or record.get("DeliveredAt") or record.get("ReceivedAt")
    stamped = parse_time(raw)
    if stamped is None:
        raise MalformedWebhook("the Postmark record has no valid time")
    return stamped


def record_nonce(record: dict[str, Any]) -> str:
    kind = record["RecordType"]
    if kind == "Delivery":
        return f"Delivery:{record.get('MessageID')}:{record.get('Recipient')}"
    if record.get("ID") is None:
        raise MalformedWebhook("the Postmark record has no ID")
    return f"{kind}:{record.get('ID')}"


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def postmark_feedback(record: dict[str, Any]) -> list[Feedback]:
    kind = record["RecordType"]
    metadata = record.get("Metadata") if isinstance(record.get("Metadata"), dict) else {}
    assert isinstance(metadata, dict)
    message_id = str(record.get("MessageID") or "")
    shared: dict[str, Any] = {
        "source": Source.postmark,
        "occurred_at": record_time(record),
        "event_key": record_nonce(record),
        "delivery_id": _uuid(metadata.get("delivery_id")),
        "workspace_id": _uuid(metadata.get("workspace_id")),
        "provider_message_ids": (message_id,) if message_id else (),
    }
    if kind == "Delivery":
        return [
            Feedback(
                kind=FeedbackKind.delivered,
                recipient=str(record.get("Recipient") or "") or None,
                code=status_of(None, str(record.get("Details") or "")),
                **shared,
            )
        ]
    if kind not in ("Bounce", "SpamComplaint"):
        return []
    bounce_type = str(record.get("Type") or ("SpamComplaint" if kind == "SpamComplaint" else ""))
    details = str(record.get("Details") or "")
    classified = classify_postmark(bounce_type, details)
    if classified is None:
        return []
    return [
        Feedback(
            kind=classified,
            recipient=str(record.get("Email") or "") or None,
            code=status_of(None, details) or bounce_type,
            diagnostic=details or str(record.get("Description") or ""),
            **shared,
        )
    ]
