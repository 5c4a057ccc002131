"""Mailgun's signed webhooks: HMAC-SHA256 of timestamp + token with the webhook signing key.

Mailgun posts JSON: {"signature": {"timestamp", "token", "signature"}, "event-data":
{...}}. The token is random per request and remembered, so a replay is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from maily.delivery.bounces.classification import classify, status_of
from maily.delivery.bounces.feedback import Feedback, FeedbackKind, Source
from maily.delivery.webhooks.guard import MalformedWebhook, WebhookRejected


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise MalformedWebhook("the body is not JSON") from exc
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("signature"), dict)
        or not isinstance(payload.get("event-data"), dict)
    ):
        raise MalformedWebhook("the body is not a Mailgun webhook (signature, event-data)")
    return payload


def verify_mailgun(signing_key: str, signature: dict[str, Any]) -> tuple[datetime, str]:
    """Check the signature block; returns its timestamp and token."""
    timestamp, token, given = (
        str(signature.get("timestamp") or ""),
        str(signature.get("token") or ""),
        str(signature.get("signature") or ""),
    )
    if not (timestamp and token and given):
        raise WebhookRejected("the Mailgun signature block is incomplete")
    expected = hmac.new(
        signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise WebhookRejected("the Mailgun signature does not match")
    try:
        return datetime.fromtimestamp(int(timestamp), UTC), token
    except (ValueError, OverflowError) as exc:
        raise WebhookRejected("the Mailgun timestamp is not a number") from exc


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _kind(data: dict[str, Any], status: str, words: str) -> FeedbackKind | None:
    event = data.get("event")
    if event == "delivered":
        return FeedbackKind.delivered
    if event == "complained":
        return FeedbackKind.complaint
    if event != "failed":
        return None
    if data.get("severity") == "temporary":
        return None  # Mailgun retries; its final word comes as a permanent failure
    reason = str(data.get("reason") or "")
    if reason == "suppress-bounce":
        return FeedbackKind.hard
    if reason in ("suppress-unsubscribe", "suppress-complaint"):
        return None
    if reason == "old":
        return FeedbackKind.soft  # gave up after retrying for hours
    return classify(status, words)


def mailgun_feedback(data: dict[str, Any]) -> Feedback | None:
    status_block = (
        data.get("delivery-status") if isinstance(data.get("delivery-status"), dict) else {}
    )
    assert isinstance(status_block, dict)
    words = " ".join(
        str(status_block.get(k) or "") for k in ("message", "description") if status_block.get(k)
    )
    status = str(status_block.get("enhanced-code") or status_block.get("code") or "")
    kind = _kind(data, status, words)
    if kind is None:
        return None
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    assert isinstance(message, dict)
    headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    assert isinstance(headers, dict)
    message_id = str(headers.get("message-id") or "").strip().strip("<>")
    variables = data.get("user-variables") if isinstance(data.get("user-variables"), dict) else {}
    assert isinstance(variables, dict)
    try:
        when = datetime.fromtimestamp(float(data.get("timestamp") or 0), UTC)
    except (TypeError, ValueError, OverflowError):
        when = datetime.now(UTC)
    event_id = str(data.get("id") or "")
    if not event_id:
        raise MalformedWebhook("the Mailgun event has no id")
    return Feedback(
        kind=kind,
        source=Source.mailgun,
        occurred_at=when,
        event_key=event_id,
        recipient=str(data.get("recipient") or "") or None,
        code=status_of(status, words) or str(data.get("reason") or ""),
        diagnostic=words,
        delivery_id=_uuid(variables.get("delivery_id")),
        workspace_id=_uuid(variables.get("workspace_id")),
        provider_message_ids=(message_id,) if message_id else (),
        message_id=f"<{message_id}>" if message_id else None,
    )
