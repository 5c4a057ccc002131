"""Every message of the corpus is read and classified as its sender meant it."""

from __future__ import annotations

import uuid

import pytest

from maily.delivery.bounces.feedback import FeedbackKind
from maily.delivery.bounces.reports import parse_report
from maily.delivery.inbound.reading import feedback_from_message
from maily.delivery.verp import Verp
from tests.delivery.bounces.corpus import corpus_names, envelope_recipient, render

VERP = Verp("corpus-secret")
RECIPIENT = "ann@members.example"

# name: (report kind, feedback kind or None for "nothing to act on", recorded code)
EXPECTED: dict[str, tuple[str, FeedbackKind | None, str]] = {
    "gmail_user_unknown": ("dsn", FeedbackKind.hard, "5.1.1"),
    "gmail_mailbox_disabled": ("dsn", FeedbackKind.hard, "5.2.1"),
    "gmail_blocked_spam": ("dsn", FeedbackKind.soft, "5.7.1"),
    "outlook_recipient_not_found": ("dsn", FeedbackKind.hard, "5.1.10"),
    "yahoo_no_account": ("dsn", FeedbackKind.hard, "5.0.0"),
    "yahoo_deferred_volume": ("dsn", FeedbackKind.soft, "4.7.0"),
    "postfix_user_unknown": ("dsn", FeedbackKind.hard, "5.1.1"),
    "postfix_mailbox_full": ("dsn", FeedbackKind.soft, "5.2.2"),
    "postfix_delayed": ("dsn", None, ""),
    "exim_user_unknown": ("plain", FeedbackKind.hard, "5.1.1"),
    "arf_yahoo_fbl": ("arf", FeedbackKind.complaint, "abuse"),
    "arf_microsoft_jmrp": ("arf", FeedbackKind.complaint, "abuse"),
}


def test_the_corpus_is_covered() -> None:
    assert sorted(EXPECTED) == corpus_names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message_is_classified(name: str) -> None:
    delivery_id = uuid.uuid4()
    raw = render(name, verp=VERP, delivery_id=delivery_id, recipient=RECIPIENT)
    report_kind, kind, code = EXPECTED[name]
    report, feedbacks = feedback_from_message(
        raw, [envelope_recipient(name, VERP, delivery_id)], VERP
    )
    assert report.kind == report_kind
    if kind is None:
        assert feedbacks == []
        return
    assert len(feedbacks) == 1, feedbacks
    feedback = feedbacks[0]
    assert feedback.kind is kind
    assert feedback.code == code
    # The VERP tag (the envelope, or the original's return path for a feedback loop)
    # names the delivery; the recipient and Message-ID come from the report.
    assert feedback.delivery_id == delivery_id
    assert feedback.recipient == RECIPIENT
    assert feedback.message_id == f"<{delivery_id}@shop.example>"
    assert feedback.event_key


def test_dsn_fields_are_read() -> None:
    delivery_id = uuid.uuid4()
    report = parse_report(
        render("gmail_user_unknown", verp=VERP, delivery_id=delivery_id, recipient=RECIPIENT)
    )
    [status] = report.recipients
    assert status.action == "failed"
    assert status.status == "5.1.1"
    assert status.diagnostic.startswith("550-5.1.1 The email account that you tried to reach")
    assert "gmail-smtp-in.l.google.com" in status.remote_mta
    assert report.original_message_id == f"<{delivery_id}@shop.example>"
    assert report.arrival_date is not None


def test_arf_fields_are_read() -> None:
    delivery_id = uuid.uuid4()
    report = parse_report(
        render("arf_yahoo_fbl", verp=VERP, delivery_id=delivery_id, recipient=RECIPIENT)
    )
    assert report.feedback_type == "abuse"
    assert VERP.parse(report.original_mail_from) == delivery_id
    assert report.original_rcpt_to == RECIPIENT


def test_a_forged_verp_tag_names_no_delivery() -> None:
    delivery_id = uuid.uuid4()
    forger = Verp("someone-else")
    raw = render("gmail_user_unknown", verp=forger, delivery_id=delivery_id, recipient=RECIPIENT)
    _, feedbacks = feedback_from_message(
        raw, [forger.address(delivery_id, "bounces.shop.example")], VERP
    )
    # Still a hard bounce, but only the Message-ID (checked with the recipient later)
    # can tie it to a delivery.
    assert feedbacks[0].delivery_id is None


def test_not_spam_feedback_is_no_complaint() -> None:
    delivery_id = uuid.uuid4()
    raw = render("arf_yahoo_fbl", verp=VERP, delivery_id=delivery_id, recipient=RECIPIENT)
    raw = raw.replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam")
    _, feedbacks = feedback_from_message(raw, ["fbl@bounces.shop.example"], VERP)
    assert feedbacks == []


def test_mail_that_is_no_report_gives_nothing() -> None:
    raw = b"From: a@b.example\r\nTo: fbl@bounces.shop.example\r\nSubject: hi\r\n\r\nhello\r\n"
    report, feedbacks = feedback_from_message(raw, ["fbl@bounces.shop.example"], VERP)
    assert report.kind == "unknown"
    assert feedbacks == []
