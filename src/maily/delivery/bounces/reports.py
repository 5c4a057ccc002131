"""Reading bounce and complaint mail: RFC 3464 delivery status notifications, RFC 5965
feedback reports (ARF), and the plain-text bounces some MTAs still write (Exim).

Only the standard library's `email` parser is used; the report's own parts are read
as RFC 822-style header blocks, which is what RFC 3464 and RFC 5965 specify."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import HeaderParser
from email.utils import parsedate_to_datetime

from maily.delivery.bounces.classification import enhanced_status, reply_code

__all__ = ["ParsedReport", "RecipientStatus", "parse_report"]


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One per-recipient block of a DSN."""

    recipient: str | None
    # failed | delayed | delivered | relayed | expanded
    action: str
    status: str
    diagnostic: str = ""
    remote_mta: str = ""


@dataclass
class ParsedReport:
    # dsn | arf | plain (a bounce without a machine-readable part) | unknown
    kind: str
    recipients: list[RecipientStatus] = field(default_factory=list)
    # ARF: abuse | fraud | virus | other | not-spam ...
    feedback_type: str = ""
    # The reporter's own id for the report (the DSN's or ARF's Message-ID).
    report_id: str = ""
    arrival_date: datetime | None = None
    # Where the original message came from and went to, as the report says.
    original_mail_from: str = ""
    original_rcpt_to: str = ""
    # Headers of the original message, when the report carries them.
    original_message_id: str = ""
    original_return_path: str = ""
    original_to: str = ""


_HEADER_PARSER = HeaderParser(policy=email.policy.compat32)


def _fields(text: str) -> list[Message]:
    """A delivery-status or feedback-report body: header blocks separated by blank lines."""
    text = text.replace("\r\n", "\n")
    blocks = [b for b in re.split(r"\n[ \t]*\n", text) if b.strip()]
    return [_HEADER_PARSER.parsestr(block.strip("\n") + "\n") for block in blocks]


def _value(block: Message, name: str) -> str:
    value = block.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _address(typed: str) -> str:
    """`rfc822; user@example.com` -> `user@example.com`."""
    _, semicolon, rest = typed.partition(";")
    value = rest if semicolon else typed
    return value.strip().strip("<>").strip()


def _diagnostic(typed: str) -> str:
    _, semicolon, rest = typed.partition(";")
    return (rest if semicolon else typed).strip()


def _payload_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:
            return payload.decode("utf-8", errors="replace")
    inner = part.get_payload()
    if isinstance(inner, list):
        # message/delivery-status parsed by the library as a list of header blocks.
        return "\n\n".join(m.as_string() for m in inner if isinstance(m, Message))
    return str(inner or "")


def _original_headers(part: Message) -> Message | None:
    """The original message's headers from message/rfc822 or text/rfc822-headers."""
    ctype = part.get_content_type()
    if ctype in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0]
        return _HEADER_PARSER.parsestr(_payload_text(part))
    if ctype in ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers"):
        return _HEADER_PARSER.parsestr(_payload_text(part))
    return None


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _take_original(report: ParsedReport, headers: Message) -> None:
    report.original_message_id = report.original_message_id or _value(headers, "Message-ID")
    report.original_return_path = report.original_return_path or _address(
        _value(headers, "Return-Path")
    )
    report.original_to = report.original_to or _value(headers, "To")


def _read_dsn(report: ParsedReport, text: str) -> None:
    blocks = _fields(text)
    if not blocks:
        return
    per_message, per_recipient = blocks[0], blocks[1:]
    if not per_recipient and _value(per_message, "Final-Recipient"):
        per_message, per_recipient = _HEADER_PARSER.parsestr(""), blocks
    report.arrival_date = report.arrival_date or _date(_value(per_message, "Arrival-Date"))
    for block in per_recipient:
        recipient = _address(_value(block, "Final-Recipient")) or _address(
            _value(block, "Original-Recipient")
        )
        action = _value(block, "Action").lower()
        status = _value(block, "Status")
        if not (recipient or action or status):
            continue
        report.recipients.append(
            RecipientStatus(
                recipient=recipient or None,
                action=action,
                status=enhanced_status(status) or status,
                diagnostic=_diagnostic(_value(block, "Diagnostic-Code")),
                remote_mta=_diagnostic(_value(block, "Remote-MTA")),
            )
        )


def _read_arf(report: ParsedReport, text: str) -> None:
    blocks = _fields(text)
    if not blocks:
        return
    block = blocks[0]
    report.feedback_type = _value(block, "Feedback-Type").lower()
    report.original_mail_from = _address(_value(block, "Original-Mail-From"))
    report.original_rcpt_to = _address(_value(block, "Original-Rcpt-To"))
    report.arrival_date = _date(_value(block, "Arrival-Date") or _value(block, "Received-Date"))


# Exim: "This is a permanent error. The following address(es) failed:" then the
# addresses, each followed by the remote server's words, indented.
_PLAIN_FAILED = re.compile(
    r"following address(?:\(es\)|es)? failed:\s*\n(?P<body>.*?)(?:\n-{3,}|\n\s*\n\S|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_ADDRESS = re.compile(r"<?([\w.+'-]+@[\w-]+(?:\.[\w-]+)+)>?")


def _read_plain(report: ParsedReport, message: Message, text: str) -> None:
    failed_header = _value(message, "X-Failed-Recipients")
    match = _PLAIN_FAILED.search(text.replace("\r\n", "\n"))
    section = match.group("body") if match else ""
    recipients = [a.strip() for a in failed_header.split(",") if a.strip()]
    if not recipients and section:
        found = _ADDRESS.search(section)
        if found:
            recipients = [found.group(1)]
    if not recipients:
        return
    words = " ".join(section.split()) or " ".join(text.split())[:1000]
    temporary = re.search(r"temporary (?:error|failure)|delay", text, re.IGNORECASE)
    action = "delayed" if temporary and "permanent" not in text.lower() else "failed"
    status = enhanced_status(words) or reply_code(words) or ""
    for recipient in recipients:
        report.recipients.append(
            RecipientStatus(recipient=recipient, action=action, status=status, diagnostic=words)
        )


def parse_report(raw: bytes) -> ParsedReport:
    """What a bounce or complaint message says, whatever wrote it."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    report = ParsedReport(kind="unknown", report_id=_value(message, "Message-ID"))
    report_type = (message.get_param("report-type") or "") if message.is_multipart() else ""
    report_type = str(report_type).lower()
    texts: list[str] = []
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            report.kind = "dsn"
            _read_dsn(report, _payload_text(part))
        elif ctype == "message/feedback-report":
            report.kind = "arf"
            _read_arf(report, _payload_text(part))
        elif (headers := _original_headers(part)) is not None:
            _take_original(report, headers)
        elif ctype == "text/plain" and not part.is_multipart():
            texts.append(_payload_text(part))
    if report.kind == "unknown" and report_type == "feedback-report":
        report.kind = "arf"
    if report.kind == "unknown":
        body = "\n".join(texts) if texts else _payload_text(message)
        _read_plain(report, message, body)
        if report.recipients:
            report.kind = "plain"
            # Exim quotes the original's headers after its own text.
            quoted = re.search(r"^Message-ID:\s*(<[^>]+>)", body, re.IGNORECASE | re.MULTILINE)
            if quoted and not report.original_message_id:
                report.original_message_id = quoted.group(1)
    return report
