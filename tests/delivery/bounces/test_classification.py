"""Hard or soft from status codes, servers' words and providers' bounce types."""

from __future__ import annotations

import pytest

from maily.delivery.bounces.classification import (
    classify,
    classify_postmark,
    classify_sendgrid,
    classify_ses,
    enhanced_status,
    status_of,
)
from maily.delivery.bounces.feedback import FeedbackKind
from maily.delivery.bounces.policy import decide, stronger_status

HARD, SOFT = FeedbackKind.hard, FeedbackKind.soft


@pytest.mark.parametrize(
    ("status", "diagnostic", "expected"),
    [
        ("5.1.1", "550 5.1.1 user unknown", HARD),
        ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", HARD),
        ("5.2.1", "550 5.2.1 The email account that you tried to reach is disabled", HARD),
        ("5.4.4", "554 5.4.4 Unable to route", HARD),
        ("5.0.0", "554 delivery error: dd This user doesn't have a yahoo.com account", HARD),
        ("5.5.0", "550 5.5.0 Requested action not taken: mailbox unavailable", HARD),
        ("5.4.1", "550 5.4.1 Recipient address rejected: Access denied", HARD),
        ("", "550 No such user here", HARD),
        ("", "550 Requested action not taken", HARD),
        ("5.2.2", "552 5.2.2 Recipient address rejected: Mailbox full", SOFT),
        ("4.2.2", "452 4.2.2 The email account that you tried to reach is over quota", SOFT),
        ("5.7.1", "550 5.7.1 this message is likely unsolicited mail (spam)", SOFT),
        ("5.7.26", "550 5.7.26 unauthenticated mail is blocked by DMARC policy", SOFT),
        ("4.7.0", "421 4.7.0 [TSS04] temporarily deferred", SOFT),
        ("4.1.1", "450 4.1.1 user unknown (try later)", SOFT),
        ("5.3.4", "552 5.3.4 Message size exceeds fixed limit", SOFT),
        ("", "421 Too many connections", SOFT),
        ("5.1.0", "550 5.1.0 Sender address rejected: not owned", SOFT),
        ("5.1.8", "553 5.1.8 Domain of sender address does not resolve", SOFT),
    ],
)
def test_classify(status: str, diagnostic: str, expected: FeedbackKind) -> None:
    assert classify(status, diagnostic) is expected


def test_status_of_prefers_the_enhanced_code() -> None:
    assert status_of("", "550-5.1.1 The email account") == "5.1.1"
    assert status_of(None, "550 no such user") == "550"
    assert status_of(None, "") == ""
    assert enhanced_status("ip 192.168.1.1 said 5.7.1") == "5.7.1"


@pytest.mark.parametrize(
    ("bounce_type", "sub_type", "expected"),
    [
        ("Permanent", "General", HARD),
        ("Permanent", "NoEmail", HARD),
        ("Permanent", "Suppressed", HARD),
        ("Permanent", "MailboxFull", SOFT),
        ("Permanent", "ContentRejected", SOFT),
        ("Transient", "General", SOFT),
        ("Undetermined", "Undetermined", HARD),
    ],
)
def test_classify_ses(bounce_type: str, sub_type: str, expected: FeedbackKind) -> None:
    assert classify_ses(bounce_type, sub_type, "5.1.1", "smtp; 550 5.1.1 user unknown") is expected


def test_classify_postmark() -> None:
    assert classify_postmark("HardBounce", "") is HARD
    assert classify_postmark("SoftBounce", "") is SOFT
    assert classify_postmark("SpamComplaint", "") is FeedbackKind.complaint
    assert classify_postmark("AutoResponder", "out of office") is None
    assert classify_postmark("SomethingNew", "550 5.1.1 user unknown") is HARD


def test_classify_sendgrid() -> None:
    assert classify_sendgrid("blocked", "", "5.7.1", "blocked") is SOFT
    assert classify_sendgrid("bounce", "Invalid Address", "5.1.1", "") is HARD
    assert classify_sendgrid("bounce", "Reputation", "5.7.1", "") is SOFT
    assert classify_sendgrid("bounce", "", "5.1.1", "550 5.1.1 user unknown") is HARD


def test_policy() -> None:
    hard = decide(HARD, 0, 3)
    assert (hard.suppression_reason, hard.contact_status, hard.mark_delivery_bounced) == (
        "hard_bounce",
        "bounced",
        True,
    )
    assert decide(SOFT, 2, 3).suppression_reason is None
    cleaned = decide(SOFT, 3, 3)
    assert (cleaned.suppression_reason, cleaned.contact_status) == ("soft_bounce", "cleaned")
    complaint = decide(FeedbackKind.complaint, 0, 3)
    assert complaint.unsubscribe
    assert complaint.contact_status == "complained"
    assert stronger_status("bounced", "complained")
    assert not stronger_status("complained", "bounced")
    assert not stronger_status("bounced", "cleaned")
