"""What every source of bounces says, in one shape: one `Feedback` per recipient of one message.

Webhooks (SES, Postmark, SendGrid, Mailgun) and `maily inbound` (DSN and ARF mail)
each turn what they receive into these; the service then finds the delivery, keeps
the record and applies the policy, whoever reported it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class FeedbackKind(StrEnum):
    # The address does not exist or never will accept mail: suppress at once.
    hard = "hard"
    # Temporary or not about the address (mailbox full, blocked for content or
    # reputation, gave up after retries): counted, suppressed only when repeated.
    soft = "soft"
    # The recipient reported the message as spam.
    complaint = "complaint"
    # The receiving server accepted the message.
    delivered = "delivered"


class Source(StrEnum):
    ses = "ses"
    postmark = "postmark"
    sendgrid = "sendgrid"
    mailgun = "mailgun"
    inbound = "inbound"


DIAGNOSTIC_LIMIT = 500
CODE_LIMIT = 32


@dataclass(frozen=True, slots=True)
class Feedback:
    kind: FeedbackKind
    source: Source
    occurred_at: datetime
    # Identifies this report among the source's others, so a repeat records nothing.
    event_key: str
    # The recipient the report names, when it names one.
    recipient: str | None = None
    # Enhanced status (5.1.1), else the SMTP code (550), else the provider's type.
    code: str = ""
    diagnostic: str = ""
    # How to find the delivery, most trustworthy first. `delivery_id` comes from a
    # VERP tag or a provider's signed metadata, `workspace_id` from the latter.
    delivery_id: uuid.UUID | None = None
    workspace_id: uuid.UUID | None = None
    provider_message_ids: tuple[str, ...] = ()
    # The original message's Message-ID header (Maily writes <delivery-id@domain>).
    message_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", self.code.strip()[:CODE_LIMIT])
        object.__setattr__(self, "diagnostic", " ".join(self.diagnostic.split())[:DIAGNOSTIC_LIMIT])
        object.__setattr__(self, "event_key", self.event_key[:255])


def delivery_id_from_message_id(message_id: str | None) -> uuid.UUID | None:
    """The delivery id in a Message-ID Maily wrote: `<uuid@sending domain>`."""
    if not message_id:
        return None
    local, at, _ = message_id.strip().strip("<>").partition("@")
    if not at:
        return None
    try:
        return uuid.UUID(local)
    except ValueError:
        return None
