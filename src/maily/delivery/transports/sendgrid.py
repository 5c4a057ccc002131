"""SendGrid through its v3 Mail Send API: one call per message, built from its parts."""

from __future__ import annotations

import time
from email.header import decode_header, make_header
from email.utils import parseaddr
from typing import Any

import httpx

from maily.config import SendGridSettings
from maily.delivery.transports.base import Outcome, OutgoingMessage, SendResult
from maily.delivery.transports.http import (
    STRUCTURED_SKIP_HEADERS,
    HTTPTransport,
    detail_of,
    status_result,
)

SEND_PATH = "/v3/mail/send"


def address(header: str) -> dict[str, str]:
    """SendGrid's {email, name} from a header value; an RFC 2047 name is decoded,
    since SendGrid encodes names itself."""
    name, email = parseaddr(header)
    if name:
        name = str(make_header(decode_header(name)))
    return {"email": email or header, **({"name": name} if name else {})}


def _rate_limit_reset(response: httpx.Response) -> float | None:
    """SendGrid says when its window resets (epoch seconds) instead of Retry-After."""
    reset = response.headers.get("x-ratelimit-reset")
    try:
        return max(0.0, float(reset) - time.time()) if reset else None
    except ValueError:
        return None


def _is_recipient_error(error: Any) -> bool:
    field = str(error.get("field") or "") if isinstance(error, dict) else ""
    return field.startswith("personalizations") and ".to" in field


class SendGridTransport(HTTPTransport):
    name = "sendgrid"

    def __init__(self, settings: SendGridSettings) -> None:
        if settings.api_key is None:
            raise ValueError("SendGrid needs MAILY_SENDGRID__API_KEY")
        super().__init__(
            settings,
            default_base_url="https://api.sendgrid.com",
            headers={"Authorization": f"Bearer {settings.api_key.get_secret_value()}"},
        )

    @staticmethod
    def payload(message: OutgoingMessage) -> dict[str, Any]:
        to = address(message.to_header)
        if to["email"].lower() != message.recipient.lower():
            to = {"email": message.recipient}
        personalization: dict[str, Any] = {"to": [to]}
        if message.metadata:
            personalization["custom_args"] = dict(message.metadata)
        payload: dict[str, Any] = {
            "personalizations": [personalization],
            "from": address(message.from_header),
            "subject": message.subject,
            # SendGrid wants text/plain before text/html.
            "content": [
                {"type": kind, "value": value}
                for kind, value in (("text/plain", message.text), ("text/html", message.html))
                if value is not None
            ],
            # Maily tracks opens, clicks and unsubscribes itself.
            "tracking_settings": {
                "click_tracking": {"enable": False, "enable_text": False},
                "open_tracking": {"enable": False},
                "subscription_tracking": {"enable": False},
            },
        }
        headers: dict[str, str] = {}
        for name, value in message.headers:
            if name.lower() == "reply-to":
                payload["reply_to"] = address(value)
            elif name.lower() not in STRUCTURED_SKIP_HEADERS:
                headers[name] = value
        if headers:
            payload["headers"] = headers
        return payload

    async def send_one(self, message: OutgoingMessage) -> SendResult:
        response = await self.client.post(SEND_PATH, json=self.payload(message))
        status = response.status_code
        if status in (200, 202):
            return SendResult(
                Outcome.sent,
                code=status,
                detail="accepted by SendGrid",
                provider_message_id=response.headers.get("x-message-id"),
            )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        errors = answer.get("errors") if isinstance(answer, dict) else None
        errors = errors if isinstance(errors, list) and errors else None
        if errors:
            text = "; ".join(
                f"{e.get('field')}: {e.get('message')}"
                if isinstance(e, dict) and e.get("field")
                else str(e.get("message") if isinstance(e, dict) else e)
                for e in errors
            )
        else:
            text = response.text
        detail = detail_of(text)
        shared = status_result(response, detail)
        if shared is not None:
            if status == 429 and shared.retry_after is None:
                shared = SendResult(
                    Outcome.deferred,
                    code=status,
                    detail=detail,
                    retry_after=_rate_limit_reset(response),
                )
            return shared
        # Only a refused recipient address is a bounce; anything else in the
        # request is wrong with the message itself.
        if status == 400 and errors and all(_is_recipient_error(e) for e in errors):
            return SendResult(Outcome.bounced, code=status, detail=detail)
        return SendResult(Outcome.failed, code=status, detail=detail)
