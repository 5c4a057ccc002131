"""Public provider webhooks for bounces, complaints and deliveries (no login: each
request proves itself by the provider's signature or credentials)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request

from maily.api.state import app_state
from maily.delivery.webhooks.receiver import Received, WebhookReceiver
from maily.delivery.webhooks.schemas import WebhookAccepted
from maily.kit.errors import MailyError

router = APIRouter(prefix="/api/v1/webhooks/inbound", tags=["bounce webhooks"])

BODY_LIMIT = 5 * 1024 * 1024
_REJECTIONS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed notification"},
    401: {"description": "Bad signature or credentials, or a stale timestamp"},
    404: {"description": "This provider's webhook is not configured"},
    409: {"description": "A replay of a notification received before"},
    413: {"description": "Body too large"},
}


class BodyTooLarge(MailyError):
    status_code = 413
    code = "body_too_large"


def get_receiver(request: Request) -> WebhookReceiver:
    state = request.app.state
    receiver = getattr(state, "bounce_webhooks", None)
    if receiver is None:
        maily = app_state(request)
        receiver = WebhookReceiver(maily.settings, maily.sessionmaker, maily.redis)
        state.bounce_webhooks = receiver
    assert isinstance(receiver, WebhookReceiver)
    return receiver


Receiver = Annotated[WebhookReceiver, Depends(get_receiver)]


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_LIMIT:
            raise BodyTooLarge(f"a webhook body may be at most {BODY_LIMIT} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(received: Received) -> WebhookAccepted:
    return WebhookAccepted(
        reports=received.reports,
        recorded=received.recorded,
        duplicates=received.duplicates,
        unmatched=received.unmatched,
        confirmed=received.confirmed,
    )


@router.post("/ses", operation_id="bounce_webhook_ses", responses=_REJECTIONS)
async def ses_webhook(request: Request, receiver: Receiver) -> WebhookAccepted:
    """Amazon SES bounce, complaint and delivery notifications through SNS (signature
    checked), and the SNS subscription confirmation for a configured topic."""
    return _answer(await receiver.ses(await _body(request)))


@router.post("/postmark", operation_id="bounce_webhook_postmark", responses=_REJECTIONS)
async def postmark_webhook(
    request: Request,
    receiver: Receiver,
    authorization: Annotated[str | None, Header()] = None,
) -> WebhookAccepted:
    """Postmark bounce, spam complaint and delivery webhooks (HTTP basic auth)."""
    return _answer(await receiver.postmark(await _body(request), authorization))


@router.post("/sendgrid", operation_id="bounce_webhook_sendgrid", responses=_REJECTIONS)
async def sendgrid_webhook(
    request: Request,
    receiver: Receiver,
    signature: Annotated[str | None, Header(alias="X-Twilio-Email-Event-Webhook-Signature")] = None,
    timestamp: Annotated[str | None, Header(alias="X-Twilio-Email-Event-Webhook-Timestamp")] = None,
) -> WebhookAccepted:
    """SendGrid's signed Event Webhook (ECDSA over timestamp and body)."""
    return _answer(await receiver.sendgrid(await _body(request), signature, timestamp))


@router.post("/mailgun", operation_id="bounce_webhook_mailgun", responses=_REJECTIONS)
async def mailgun_webhook(request: Request, receiver: Receiver) -> WebhookAccepted:
    """Mailgun's signed webhooks (HMAC-SHA256 of timestamp and token)."""
    return _answer(await receiver.mailgun(await _body(request)))
