"""Postmark through its batch API: up to 500 messages per call, one verdict each."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from maily.config import PostmarkSettings
from maily.delivery.transports.base import Outcome, OutgoingMessage, SendResult
from maily.delivery.transports.http import (
    STRUCTURED_SKIP_HEADERS,
    HTTPTransport,
    detail_of,
    status_result,
)

BATCH_PATH = "/email/batch"
# Postmark's limits for one batch call: 500 messages, 50 MB of JSON.
BATCH_MESSAGES = 500
BATCH_BYTES = 50 * 1024 * 1024
# Metadata: at most 10 fields, names of 20 characters, values of 80.
METADATA_FIELDS = 10

# Postmark API error codes (postmarkapp.com/developer/api/overview#error-codes).
OK = 0
INVALID_TOKEN = 10
INVALID_EMAIL_REQUEST = 300
NOT_ALLOWED_TO_SEND = 405
INACTIVE_RECIPIENT = 406
RATE_LIMITED = 429
# Error 300 covers any bad field; only a bad recipient says something about the address.
_RECIPIENT_PROBLEM = re.compile(r"'to'|recipient", re.IGNORECASE)


def error_result(error_code: int, text: str, status: int) -> SendResult:
    """The outcome of one of Postmark's ErrorCodes."""
    detail = detail_of(f"Postmark error {error_code}: {text}")
    if error_code == INACTIVE_RECIPIENT:
        return SendResult(Outcome.bounced, code=status, detail=detail)
    if error_code == INVALID_EMAIL_REQUEST:
        outcome = Outcome.bounced if _RECIPIENT_PROBLEM.search(text) else Outcome.failed
        return SendResult(outcome, code=status, detail=detail)
    # Out of credits or over the rate: the account recovers, the message is fine.
    if error_code in (NOT_ALLOWED_TO_SEND, RATE_LIMITED) or error_code >= 500:
        return SendResult(Outcome.deferred, code=status, detail=detail)
    if error_code == INVALID_TOKEN:
        return SendResult(
            Outcome.failed,
            code=status,
            detail=f"the provider refused the credentials: {detail}",
        )
    return SendResult(Outcome.failed, code=status, detail=detail)


def batches(messages: Sequence[OutgoingMessage]) -> list[list[OutgoingMessage]]:
    """Split into Postmark-sized batches (by count, and roughly by size: JSON
    carries both parts, so a message weighs about its raw size)."""
    out: list[list[OutgoingMessage]] = []
    current: list[OutgoingMessage] = []
    size = 0
    for message in messages:
        weight = len(message.data) + 1024
        if current and (len(current) >= BATCH_MESSAGES or size + weight > BATCH_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(message)
        size += weight
    if current:
        out.append(current)
    return out


class PostmarkTransport(HTTPTransport):
    """Sends messages as Postmark batch calls, several batches in flight at once."""

    name = "postmark"

    def __init__(self, settings: PostmarkSettings) -> None:
        if settings.server_token is None:
            raise ValueError("Postmark needs MAILY_POSTMARK__SERVER_TOKEN")
        super().__init__(
            settings,
            default_base_url="https://api.postmarkapp.com",
            headers={
                "X-Postmark-Server-Token": settings.server_token.get_secret_value(),
                "Accept": "application/json",
            },
        )
        self.message_stream = settings.message_stream

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        # The envelope recipient is who gets the mail; Postmark has no envelope
        # apart from To, so the header is used only when it names that recipient.
        to = message.to_header if message.recipient.lower() in message.to_header.lower() else None
        payload: dict[str, Any] = {
            "From": message.from_header,
            "To": to or message.recipient,
            "Subject": message.subject,
            "MessageStream": self.message_stream,
            # Maily tracks opens and clicks itself.
            "TrackOpens": False,
            "TrackLinks": "None",
        }
        if message.html is not None:
            payload["HtmlBody"] = message.html
        if message.text is not None:
            payload["TextBody"] = message.text
        headers = []
        for name, value in message.headers:
            if name.lower() == "reply-to":
                payload["ReplyTo"] = value
            elif name.lower() not in STRUCTURED_SKIP_HEADERS:
                headers.append({"Name": name, "Value": value})
        if headers:
            payload["Headers"] = headers
        if message.metadata:
            payload["Metadata"] = {
                key[:20]: value[:80]
                for key, value in list(message.metadata.items())[:METADATA_FIELDS]
            }
        return payload

    async def deliver(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        groups = batches(messages)
        answers = await asyncio.gather(*(self.guarded(self.send_batch, g) for g in groups))
        results: list[SendResult] = []
        for group, answer in zip(groups, answers, strict=True):
            results.extend([answer] * len(group) if isinstance(answer, SendResult) else answer)
        return results

    async def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        response = await self.client.post(BATCH_PATH, json=[self.payload(m) for m in messages])
        try:
            answer = response.json()
        except ValueError:
            answer = None
        status = response.status_code
        if status == 200:
            if not isinstance(answer, list) or len(answer) != len(messages):
                # Accepted, but the verdicts cannot be matched to the messages.
                unreadable = SendResult(
                    Outcome.unknown,
                    code=status,
                    detail=detail_of(f"Postmark's answer does not list each message: {answer}"),
                )
                return [unreadable] * len(messages)
            return [self._verdict(item, status) for item in answer]
        text = str(answer.get("Message", "")) if isinstance(answer, dict) else response.text
        shared = status_result(response, detail_of(text))
        if shared is None:
            code = answer.get("ErrorCode") if isinstance(answer, dict) else None
            # A whole-batch error is about the request, never one recipient.
            shared = (
                error_result(code, text, status)
                if isinstance(code, int) and code != INVALID_EMAIL_REQUEST
                else SendResult(Outcome.failed, code=status, detail=detail_of(text))
            )
            if shared.outcome is Outcome.bounced:
                shared = SendResult(Outcome.failed, code=status, detail=shared.detail)
        return [shared] * len(messages)

    @staticmethod
    def _verdict(item: Any, status: int) -> SendResult:
        if not isinstance(item, dict):
            return SendResult(Outcome.unknown, code=status, detail=detail_of(str(item)))
        code = item.get("ErrorCode")
        text = str(item.get("Message", ""))
        if code == OK:
            return SendResult(
                Outcome.sent,
                code=status,
                detail=text or "OK",
                provider_message_id=item.get("MessageID"),
            )
        if not isinstance(code, int):
            return SendResult(Outcome.unknown, code=status, detail=detail_of(str(item)))
        return error_result(code, text, status)
