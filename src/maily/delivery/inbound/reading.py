"""From one received bounce or complaint message to the feedback it carries.

The envelope recipient is the VERP return path the original was sent from, so its
HMAC-tagged token names the delivery without trusting anything in the body. A
feedback-loop report sent to a fixed address (fbl@...) names the delivery through
the original message it quotes: its Return-Path (VERP again) or, failing that, its
Message-ID together with the recipient."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import getaddresses

from maily.delivery.bounces.classification import classify, status_of
from maily.delivery.bounces.feedback import Feedback, FeedbackKind, Source
from maily.delivery.bounces.reports import ParsedReport, parse_report
from maily.delivery.verp import Verp

# ARF Feedback-Types that are complaints; "not-spam" is the opposite of one.
_COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other", ""})


def _first_delivery(verp: Verp, addresses: Sequence[str]) -> uuid.UUID | None:
    for address in addresses:
        if address and (found := verp.parse(address)) is not None:
            return found
    return None


def _address_of(header_value: str) -> str | None:
    found = [addr for _, addr in getaddresses([header_value]) if "@" in addr]
    return found[0] if found else None


def feedback_from_message(
    raw: bytes, envelope_recipients: Sequence[str], verp: Verp, now: datetime | None = None
) -> tuple[ParsedReport, list[Feedback]]:
    report = parse_report(raw)
    received = now or datetime.now(UTC)
    occurred = report.arrival_date or received
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    digest = hashlib.sha256(report.report_id.encode() if report.report_id else raw).hexdigest()[:40]
    delivery_id = _first_delivery(verp, envelope_recipients)
    if report.kind == "arf":
        if report.feedback_type not in _COMPLAINT_TYPES:
            return report, []
        delivery_id = delivery_id or _first_delivery(
            verp, [report.original_mail_from, report.original_return_path]
        )
        recipient = report.original_rcpt_to or _address_of(report.original_to)
        return report, [
            Feedback(
                kind=FeedbackKind.complaint,
                source=Source.inbound,
                occurred_at=occurred,
                event_key=f"arf:{digest}",
                recipient=recipient,
                code=report.feedback_type or "abuse",
                diagnostic=f"feedback report ({report.feedback_type or 'abuse'})",
                delivery_id=delivery_id,
                message_id=report.original_message_id or None,
            )
        ]
    if report.kind not in ("dsn", "plain"):
        return report, []
    delivery_id = delivery_id or _first_delivery(verp, [report.original_return_path])
    out: list[Feedback] = []
    for status in report.recipients:
        if status.action in ("failed", ""):
            kind = classify(status.status, status.diagnostic)
        elif status.action in ("delivered", "relayed", "expanded"):
            kind = FeedbackKind.delivered
        else:
            continue  # delayed: the sending MTA keeps trying
        out.append(
            Feedback(
                kind=kind,
                source=Source.inbound,
                occurred_at=occurred,
                event_key=f"dsn:{digest}:{status.recipient or ''}:{status.action}",
                recipient=status.recipient,
                code=status_of(status.status, status.diagnostic),
                diagnostic=status.diagnostic or status.status,
                delivery_id=delivery_id,
                message_id=report.original_message_id or None,
            )
        )
    return report, out
