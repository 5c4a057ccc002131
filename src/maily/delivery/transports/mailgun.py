"""Mailgun through its messages.mime API: the raw message and its recipient, one call each."""

from __future__ import annotations

import re
from urllib.parse import quote

from maily.config import MailgunSettings
from maily.delivery.transports.base import Outcome, OutgoingMessage, SendResult
from maily.delivery.transports.http import HTTPTransport, detail_of, status_result

BASE_URLS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
# Mailgun answers a bad `to` with "to parameter is not a valid address".
_RECIPIENT_PROBLEM = re.compile(r"\bto\b.*not a valid address", re.IGNORECASE)


class MailgunTransport(HTTPTransport):
    name = "mailgun"

    def __init__(self, settings: MailgunSettings) -> None:
        if settings.api_key is None or not settings.domain:
            raise ValueError("Mailgun needs MAILY_MAILGUN__API_KEY and MAILY_MAILGUN__DOMAIN")
        super().__init__(
            settings,
            default_base_url=BASE_URLS[settings.region],
            auth=("api", settings.api_key.get_secret_value()),
        )
        self.domain = settings.domain
        self.path = f"/v3/{quote(settings.domain, safe='')}/messages.mime"

    @staticmethod
    def form(message: OutgoingMessage) -> dict[str, str]:
        fields = {
            "to": message.recipient,
            # Maily tracks opens and clicks itself.
            "o:tracking": "no",
        }
        # Custom variables come back on Mailgun's webhooks (delivery id, campaign id).
        fields.update({f"v:{key}": value for key, value in message.metadata.items()})
        return fields

    async def send_one(self, message: OutgoingMessage) -> SendResult:
        response = await self.client.post(
            self.path,
            data=self.form(message),
            files={"message": ("message.mime", message.data, "message/rfc822")},
        )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        text = (str(answer.get("message", "")) if isinstance(answer, dict) else "") or response.text
        status = response.status_code
        if status == 200:
            message_id = answer.get("id") if isinstance(answer, dict) else None
            return SendResult(
                Outcome.sent,
                code=status,
                detail=detail_of(text) or "accepted by Mailgun",
                provider_message_id=str(message_id).strip("<>") if message_id else None,
            )
        detail = detail_of(text)
        shared = status_result(response, detail)
        if shared is not None:
            return shared
        if status == 400 and _RECIPIENT_PROBLEM.search(text):
            return SendResult(Outcome.bounced, code=status, detail=detail)
        return SendResult(Outcome.failed, code=status, detail=detail)
