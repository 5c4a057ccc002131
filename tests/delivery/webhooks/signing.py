"""Test stand-ins for the providers' signing sides: keys, a certificate, and how each
provider signs a webhook request."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from maily.delivery.webhooks.ses import string_to_sign

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:maily-feedback"


def rsa_certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    """An RSA key and a self-signed certificate for it, as SNS signs with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def sns_timestamp(at: datetime.datetime | None = None) -> str:
    at = at or datetime.datetime.now(datetime.UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def sign_sns(
    message: dict[str, Any], key: rsa.RSAPrivateKey, cert_url: str, version: str = "1"
) -> dict[str, Any]:
    message = {**message, "SignatureVersion": version, "SigningCertURL": cert_url}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
    message["Signature"] = base64.b64encode(signature).decode()
    return message


def sns_notification(
    notification: dict[str, Any], *, topic: str = TOPIC_ARN, at: datetime.datetime | None = None
) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(notification),
        "Timestamp": sns_timestamp(at),
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }


def ses_bounce(
    provider_id: str, email: str, *, bounce_type: str = "Permanent", sub_type: str = "General"
) -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "feedbackId": f"0100018c-{secrets.token_hex(8)}-000000",
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": [
                {
                    "emailAddress": email,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": sns_timestamp(),
            "reportingMTA": "dsn; a8-30.smtp-out.amazonses.com",
        },
        "mail": {
            "timestamp": sns_timestamp(),
            "source": "news@shop.example",
            "messageId": provider_id,
            "destination": [email],
            "headersTruncated": False,
            "headers": [{"name": "Message-ID", "value": "<unrelated@shop.example>"}],
            "commonHeaders": {"from": ["news@shop.example"], "to": [email]},
        },
    }


def ses_complaint(provider_id: str, email: str) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "feedbackId": f"0100018c-{secrets.token_hex(8)}-000000",
            "complainedRecipients": [{"emailAddress": email}],
            "complaintFeedbackType": "abuse",
            "userAgent": "Yahoo!-Mail-Feedback/2.0",
            "timestamp": sns_timestamp(),
        },
        "mail": {"messageId": provider_id, "destination": [email], "timestamp": sns_timestamp()},
    }


# -- SendGrid -----------------------------------------------------------------------


def sendgrid_keys() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-256 key and its public half as SendGrid shows it (base64 DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, base64.b64encode(der).decode()


def sendgrid_request(
    events: list[dict[str, Any]], key: ec.EllipticCurvePrivateKey, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode()
    stamp = str(timestamp if timestamp is not None else int(datetime.datetime.now().timestamp()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def sendgrid_bounce(delivery_id: uuid.UUID, workspace_id: uuid.UUID, email: str) -> dict[str, Any]:
    return {
        "email": email,
        "timestamp": int(datetime.datetime.now().timestamp()),
        "smtp-id": f"<{delivery_id}@shop.example>",
        "event": "bounce",
        "type": "bounce",
        "category": ["campaign"],
        "sg_event_id": secrets.token_urlsafe(16),
        "sg_message_id": f"pm-{delivery_id}.filterdrecv-7bc8d4c4d4-x2k9p-1-6512AB1F-3.0",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        "status": "5.1.1",
        "bounce_classification": "Invalid Address",
        "delivery_id": str(delivery_id),
        "workspace_id": str(workspace_id),
    }


# -- Mailgun ------------------------------------------------------------------------


def mailgun_body(
    event_data: dict[str, Any],
    signing_key: str,
    *,
    timestamp: int | None = None,
    token: str | None = None,
) -> bytes:
    stamp = str(timestamp if timestamp is not None else int(datetime.datetime.now().timestamp()))
    token = token or secrets.token_hex(25)
    signature = hmac.new(signing_key.encode(), (stamp + token).encode(), hashlib.sha256)
    return json.dumps(
        {
            "signature": {"timestamp": stamp, "token": token, "signature": signature.hexdigest()},
            "event-data": event_data,
        }
    ).encode()


def mailgun_failure(delivery_id: uuid.UUID, workspace_id: uuid.UUID, email: str) -> dict[str, Any]:
    return {
        "id": secrets.token_urlsafe(16),
        "timestamp": datetime.datetime.now().timestamp(),
        "log-level": "error",
        "event": "failed",
        "severity": "permanent",
        "reason": "bounce",
        "recipient": email,
        "recipient-domain": email.split("@")[1],
        "delivery-status": {
            "attempt-no": 1,
            "code": 550,
            "message": "5.1.1 The email account that you tried to reach does not exist.",
            "description": "",
        },
        "message": {"headers": {"message-id": f"{delivery_id}@shop.example", "to": email}},
        "user-variables": {"delivery_id": str(delivery_id), "workspace_id": str(workspace_id)},
    }


# -- Postmark -----------------------------------------------------------------------


def postmark_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def postmark_bounce(
    delivery_id: uuid.UUID,
    workspace_id: uuid.UUID,
    email: str,
    *,
    record_type: str = "Bounce",
    bounce_type: str = "HardBounce",
    at: datetime.datetime | None = None,
) -> dict[str, Any]:
    return {
        "RecordType": record_type,
        "ID": secrets.randbelow(10**12),
        "Type": bounce_type,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "",
        "MessageID": f"pm-{delivery_id}",
        "ServerID": 23,
        "MessageStream": "broadcast",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "news@shop.example",
        "BouncedAt": (at or datetime.datetime.now(datetime.UTC)).isoformat(),
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Our winter sale starts today",
        "Metadata": {"delivery_id": str(delivery_id), "workspace_id": str(workspace_id)},
    }
