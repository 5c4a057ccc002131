"""Amazon SES notifications through SNS: the SNS signature, subscription confirmation,
and SES's Bounce, Complaint and Delivery notifications.

SNS signs a canonical string of the message's fields with RSA, SHA1 for
SignatureVersion 1 and SHA256 for 2, using the certificate at SigningCertURL. That
URL is fetched only over HTTPS and only from a host matching the configured pattern
(SNS's own hosts by default), so a forger cannot point us at a certificate of theirs;
certificates are kept in memory for a while."""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from maily.config import SESSettings
from maily.delivery.bounces.classification import classify_ses, status_of
from maily.delivery.bounces.feedback import Feedback, FeedbackKind, Source
from maily.delivery.webhooks.guard import MalformedWebhook, WebhookRejected, parse_time

_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_FIELDS["UnsubscribeConfirmation"] = _SIGNED_FIELDS["SubscriptionConfirmation"]
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_CERTIFICATE_LIMIT = 64 * 1024


def string_to_sign(message: dict[str, Any]) -> bytes:
    """SNS's canonical form: `Name\\nvalue\\n` for each signed field present, in order."""
    kind = message.get("Type")
    names = _SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if names is None:
        raise MalformedWebhook(f"unknown SNS message type {kind!r}")
    out = []
    for name in names:
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise MalformedWebhook(f"the SNS message lacks {name}")
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8")


class CertificateStore:
    """Fetches SNS signing certificates from allowed hosts over HTTPS, and caches them."""

    def __init__(self, settings: SESSettings, cache_seconds: float) -> None:
        self.pattern = re.compile(settings.sns_certificate_host_pattern)
        self.cache_seconds = cache_seconds
        context = ssl.create_default_context(
            cafile=str(settings.sns_certificate_ca_file)
            if settings.sns_certificate_ca_file
            else None
        )
        self._client = httpx.AsyncClient(verify=context, timeout=5.0, follow_redirects=False)
        self._cache: dict[str, tuple[float, rsa.RSAPublicKey]] = {}
        self.fetches = 0

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        return (
            parts.scheme == "https"
            and parts.hostname is not None
            and self.pattern.fullmatch(parts.hostname) is not None
            and not parts.username
            and not parts.password
        )

    async def public_key(self, url: str) -> rsa.RSAPublicKey:
        if not self.allowed(url):
            raise WebhookRejected("the SNS signing certificate is not from an allowed host")
        cached = self._cache.get(url)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        self.fetches += 1
        try:
            response = await self._client.get(url)
        except httpx.HTTPError as exc:
            raise WebhookRejected(
                f"the SNS signing certificate could not be fetched: {exc}"
            ) from exc
        if response.status_code != 200 or len(response.content) > _CERTIFICATE_LIMIT:
            raise WebhookRejected("the SNS signing certificate could not be fetched")
        try:
            certificate = x509.load_pem_x509_certificate(response.content)
        except ValueError as exc:
            raise WebhookRejected("the SNS signing certificate is not a certificate") from exc
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WebhookRejected("the SNS signing certificate has no RSA key")
        self._cache[url] = (now + self.cache_seconds, key)
        return key

    async def get(self, url: str) -> httpx.Response:
        """A GET to an allowed SNS host (subscription confirmation)."""
        if not self.allowed(url):
            raise WebhookRejected("the SNS subscribe URL is not on an allowed host")
        return await self._client.get(url)

    async def aclose(self) -> None:
        await self._client.aclose()


def parse_sns(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise MalformedWebhook("the body is not JSON") from exc
    if not isinstance(message, dict):
        raise MalformedWebhook("the body is not an SNS message")
    return message


async def verify_sns(message: dict[str, Any], store: CertificateStore) -> None:
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise WebhookRejected("unsupported SNS SignatureVersion")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except ValueError as exc:
        raise WebhookRejected("the SNS signature is not base64") from exc
    canonical = string_to_sign(message)
    key = await store.public_key(str(message.get("SigningCertURL", "")))
    try:
        key.verify(signature, canonical, padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise WebhookRejected("the SNS signature does not match") from exc


def sns_timestamp(message: dict[str, Any]) -> datetime:
    stamped = parse_time(message.get("Timestamp"))
    if stamped is None:
        raise MalformedWebhook("the SNS message has no valid Timestamp")
    return stamped


def _when(value: Any, default: datetime) -> datetime:
    return parse_time(value) or default


def _uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def ses_feedback(notification: dict[str, Any], published: datetime) -> list[Feedback]:
    """SES's notification (the SNS Message) as feedback, one per recipient."""
    kind = notification.get("notificationType") or notification.get("eventType")
    mail = _dict(notification.get("mail"))
    tags = _dict(mail.get("tags"))
    common = _dict(mail.get("commonHeaders"))
    message_id = common.get("messageId")
    if not message_id:
        for header in _list(mail.get("headers")):
            if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
                message_id = header.get("value")
    provider_id = str(mail.get("messageId") or "")
    shared: dict[str, Any] = {
        "source": Source.ses,
        "delivery_id": _uuid(tags.get("delivery_id")),
        "workspace_id": _uuid(tags.get("workspace_id")),
        "provider_message_ids": (provider_id,) if provider_id else (),
        "message_id": str(message_id) if message_id else None,
    }
    out: list[Feedback] = []
    if kind == "Bounce":
        bounce = _dict(notification.get("bounce"))
        when = _when(bounce.get("timestamp"), published)
        for item in _list(bounce.get("bouncedRecipients")):
            if not isinstance(item, dict):
                continue
            status, diag = str(item.get("status") or ""), str(item.get("diagnosticCode") or "")
            out.append(
                Feedback(
                    kind=classify_ses(
                        str(bounce.get("bounceType")),
                        str(bounce.get("bounceSubType")),
                        status,
                        diag,
                    ),
                    occurred_at=when,
                    event_key=f"{bounce.get('feedbackId')}:{item.get('emailAddress')}",
                    recipient=str(item.get("emailAddress") or "") or None,
                    code=status_of(status, diag) or str(bounce.get("bounceSubType") or ""),
                    diagnostic=diag or str(bounce.get("bounceSubType") or ""),
                    **shared,
                )
            )
    elif kind == "Complaint":
        complaint = _dict(notification.get("complaint"))
        if complaint.get("complaintFeedbackType") == "not-spam":
            return []
        when = _when(complaint.get("timestamp"), published)
        for item in _list(complaint.get("complainedRecipients")):
            if not isinstance(item, dict):
                continue
            out.append(
                Feedback(
                    kind=FeedbackKind.complaint,
                    occurred_at=when,
                    event_key=f"{complaint.get('feedbackId')}:{item.get('emailAddress')}",
                    recipient=str(item.get("emailAddress") or "") or None,
                    code=str(complaint.get("complaintFeedbackType") or "abuse"),
                    diagnostic=str(complaint.get("userAgent") or ""),
                    **shared,
                )
            )
    elif kind == "Delivery":
        delivery = _dict(notification.get("delivery"))
        when = _when(delivery.get("timestamp"), published)
        for recipient in _list(delivery.get("recipients")):
            out.append(
                Feedback(
                    kind=FeedbackKind.delivered,
                    occurred_at=when,
                    event_key=f"{provider_id}:delivered:{recipient}",
                    recipient=str(recipient),
                    code=status_of(None, str(delivery.get("smtpResponse") or "")),
                    **shared,
                )
            )
    return out
