"""SendGrid's signed Event Webhook: ECDSA P-256 (SHA-256) over timestamp + raw body.

The signature (base64 DER) and the timestamp come in the
X-Twilio-Email-Event-Webhook-Signature and -Timestamp headers; the key is the
verification key from SendGrid's Mail Settings. A body is a JSON array of events."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from maily.delivery.bounces.classification import classify_sendgrid, status_of
from maily.delivery.bounces.feedback import Feedback, FeedbackKind, Source
from maily.delivery.webhooks.guard import MalformedWebhook, WebhookRejected

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def load_public_key(configured: str) -> ec.EllipticCurvePublicKey:
    text = configured.strip()
    try:
        if "BEGIN PUBLIC KEY" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text))
    except (ValueError, binascii.Error) as exc:
        raise ValueError("MAILY_SENDGRID__WEBHOOK_PUBLIC_KEY is not a public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("MAILY_SENDGRID__WEBHOOK_PUBLIC_KEY is not an ECDSA key")
    return key


def verify_sendgrid(
    key: ec.EllipticCurvePublicKey, body: bytes, signature: str | None, timestamp: str | None
) -> datetime:
    """Check the signature; returns the signed timestamp."""
    if not signature or not timestamp:
        raise WebhookRejected(f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required")
    try:
        stamped = datetime.fromtimestamp(int(timestamp), UTC)
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, OverflowError, binascii.Error) as exc:
        raise WebhookRejected("malformed SendGrid signature headers") from exc
    try:
        key.verify(raw, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise WebhookRejected("the SendGrid signature does not match") from exc
    return stamped


def parse_events(body: bytes) -> list[dict[str, Any]]:
    try:
        events = json.loads(body)
    except ValueError as exc:
        raise MalformedWebhook("the body is not JSON") from exc
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise MalformedWebhook("the body is not a list of SendGrid events")
    return events


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _provider_ids(sg_message_id: str) -> tuple[str, ...]:
    """sg_message_id is the X-Message-Id of the send, then '.filter…' or '.recvd…'."""
    if not sg_message_id:
        return ()
    ids = [sg_message_id]
    for marker in (".filter", ".recvd", ".ismtpd"):
        if marker in sg_message_id:
            ids.append(sg_message_id.split(marker, 1)[0])
    ids.append(sg_message_id.split(".", 1)[0])
    return tuple(dict.fromkeys(ids))


def _kind(event: dict[str, Any]) -> FeedbackKind | None:
    name = event.get("event")
    if name == "delivered":
        return FeedbackKind.delivered
    if name == "spamreport":
        return FeedbackKind.complaint
    if name == "bounce":
        return classify_sendgrid(
            str(event.get("type") or "bounce"),
            str(event.get("bounce_classification") or ""),
            str(event.get("status") or ""),
            str(event.get("reason") or ""),
        )
    if name == "dropped":
        reason = str(event.get("reason") or "").lower()
        if "bounced address" in reason or reason.startswith("invalid"):
            return FeedbackKind.hard
        if "spam reporting address" in reason:
            return FeedbackKind.complaint
    # deferred (SendGrid keeps trying), opens and clicks (Maily tracks those itself).
    return None


def sendgrid_feedback(event: dict[str, Any]) -> Feedback | None:
    kind = _kind(event)
    if kind is None:
        return None
    try:
        when = datetime.fromtimestamp(float(event.get("timestamp") or 0), UTC)
    except (TypeError, ValueError, OverflowError):
        when = datetime.now(UTC)
    event_id = str(event.get("sg_event_id") or "")
    if not event_id:
        event_id = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
    reason = str(event.get("reason") or event.get("response") or "")
    return Feedback(
        kind=kind,
        source=Source.sendgrid,
        occurred_at=when,
        event_key=event_id,
        recipient=str(event.get("email") or "") or None,
        code=status_of(str(event.get("status") or ""), reason),
        diagnostic=reason,
        delivery_id=_uuid(event.get("delivery_id")),
        workspace_id=_uuid(event.get("workspace_id")),
        provider_message_ids=_provider_ids(str(event.get("sg_message_id") or "")),
        message_id=str(event.get("smtp-id") or "") or None,
    )
