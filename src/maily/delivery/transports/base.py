"""The one interface every transport implements, and the values that cross it.

A transport receives finished messages (rendered, headers set, DKIM-signed) and says
what became of each one. It never retries on its own beyond a connection attempt:
a deferral goes back to the delivery ledger, which retries with backoff and survives
a crash; a permanent failure becomes a bounce; a message whose fate cannot be known
(the connection dropped after DATA) is `unknown`, and is never sent again blindly."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Outcome(StrEnum):
    # Accepted by the next hop (SMTP 250 after DATA, a provider's 2xx).
    sent = "sent"
    # Temporary failure (SMTP 4xx, provider 429/5xx, connection refused, timeout
    # before the message was handed over): try again later.
    deferred = "deferred"
    # Permanent failure for this recipient (SMTP 5xx, a provider's rejection of
    # the address): recorded as a hard bounce; the address gets suppressed.
    bounced = "bounced"
    # The message may or may not have been accepted (connection lost after DATA,
    # a provider call that timed out after sending the body). Never resent blindly.
    unknown = "unknown"
    # The message itself is unacceptable (too big, malformed for the provider):
    # no retry can help, and it says nothing about the recipient's address.
    failed = "failed"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One finished message to one recipient.

    `data` is the complete RFC 5322 message with CRLF line endings, DKIM signature
    included; SMTP and raw-MIME APIs (SES, Mailgun) send it as it is. Providers whose
    APIs take parts instead of MIME (Postmark, SendGrid) use the structured fields,
    which describe the same message."""

    # The ledger row this message is for; None for test sends and confirmations.
    delivery_id: uuid.UUID | None
    workspace_id: uuid.UUID
    # Envelope: MAIL FROM (the VERP return path) and RCPT TO.
    envelope_from: str
    recipient: str
    data: bytes
    # The same message in parts.
    from_header: str
    to_header: str
    subject: str
    html: str | None
    text: str | None
    # Headers beyond From/To/Subject/Date/MIME ones, in order: Message-ID,
    # List-Unsubscribe, List-Unsubscribe-Post, List-Id, Feedback-ID, Reply-To ...
    headers: Sequence[tuple[str, str]] = ()
    # Provider-side tags/metadata (campaign id, delivery id) where an API has them.
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    # SMTP reply code or HTTP status, when there was one.
    code: int | None = None
    # The server's words (SMTP reply text, provider error message), for the ledger.
    detail: str = ""
    # The provider's id for the message (SES MessageId, Postmark MessageID ...),
    # so its webhooks can be matched to the delivery.
    provider_message_id: str | None = None
    # A server's own hint for when to try again, in seconds.
    retry_after: float | None = None


@runtime_checkable
class Transport(Protocol):
    """Delivers messages. Implementations are safe to share between tasks of one
    process and keep their own pools; `send` may be called concurrently."""

    # Stable name used in metrics, logs, circuit breakers and rate limits: "smtp",
    # "ses", "postmark", "sendgrid", "mailgun", "outbox".
    name: str

    async def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Deliver `messages`; one result per message, in the same order. Never
        raises for a per-message failure: it becomes that message's result."""
        ...

    async def aclose(self) -> None:
        """Close pooled connections; in-flight sends finish first."""
        ...
