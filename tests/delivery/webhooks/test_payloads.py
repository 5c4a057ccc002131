"""Providers' payloads as feedback: kinds, codes and the references to the delivery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from maily.delivery.bounces.feedback import FeedbackKind
from maily.delivery.webhooks.mailgun import mailgun_feedback
from maily.delivery.webhooks.postmark import postmark_feedback
from maily.delivery.webhooks.sendgrid import sendgrid_feedback
from maily.delivery.webhooks.ses import ses_feedback, string_to_sign
from tests.delivery.webhooks.signing import mailgun_failure, postmark_bounce, ses_bounce

DELIVERY, WORKSPACE = uuid.uuid4(), uuid.uuid4()
NOW = datetime.now(UTC)


def test_sns_string_to_sign_follows_the_documented_order() -> None:
    message = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:t",
        "Message": "hello",
        "Timestamp": "2026-12-01T10:00:00.000Z",
        "Subject": "s",
    }
    assert string_to_sign(message) == (
        b"Message\nhello\nMessageId\nm-1\nSubject\ns\nTimestamp\n"
        b"2026-12-01T10:00:00.000Z\nTopicArn\narn:t\nType\nNotification\n"
    )
    del message["Subject"]
    assert b"Subject" not in string_to_sign(message)


def test_ses_bounce_types_and_references() -> None:
    [hard] = ses_feedback(ses_bounce("ses-1", "ann@example.com"), NOW)
    assert (hard.kind, hard.code, hard.provider_message_ids) == (
        FeedbackKind.hard,
        "5.1.1",
        ("ses-1",),
    )
    [soft] = ses_feedback(ses_bounce("ses-1", "ann@example.com", bounce_type="Transient"), NOW)
    assert soft.kind is FeedbackKind.soft
    full = ses_bounce("ses-1", "ann@example.com", sub_type="MailboxFull")
    assert ses_feedback(full, NOW)[0].kind is FeedbackKind.soft
    tagged = ses_bounce("ses-1", "ann@example.com")
    tagged["mail"]["tags"] = {"delivery_id": [str(DELIVERY)], "workspace_id": [str(WORKSPACE)]}
    [found] = ses_feedback(tagged, NOW)
    assert (found.delivery_id, found.workspace_id) == (DELIVERY, WORKSPACE)
    delivery = {
        "eventType": "Delivery",
        "mail": {"messageId": "ses-2"},
        "delivery": {"recipients": ["ann@example.com"], "smtpResponse": "250 2.0.0 OK"},
    }
    assert [f.kind for f in ses_feedback(delivery, NOW)] == [FeedbackKind.delivered]
    assert ses_feedback({"notificationType": "Bounce", "bounce": "junk"}, NOW) == []


def test_postmark_types() -> None:
    [hard] = postmark_feedback(postmark_bounce(DELIVERY, WORKSPACE, "ann@example.com"))
    assert (hard.kind, hard.code, hard.delivery_id) == (FeedbackKind.hard, "5.1.1", DELIVERY)
    soft = postmark_bounce(DELIVERY, WORKSPACE, "a@example.com", bounce_type="SoftBounce")
    assert postmark_feedback(soft)[0].kind is FeedbackKind.soft
    auto = postmark_bounce(DELIVERY, WORKSPACE, "a@example.com", bounce_type="AutoResponder")
    assert postmark_feedback(auto) == []
    delivered = {
        "RecordType": "Delivery",
        "MessageID": "pm-1",
        "Recipient": "ann@example.com",
        "DeliveredAt": NOW.isoformat(),
        "Details": "Test delivery webhook details",
    }
    assert postmark_feedback(delivered)[0].kind is FeedbackKind.delivered


def test_sendgrid_events() -> None:
    base = {"email": "ann@example.com", "timestamp": 1764580000, "sg_event_id": "e1"}
    assert sendgrid_feedback({**base, "event": "deferred"}) is None
    assert sendgrid_feedback({**base, "event": "open"}) is None
    dropped = sendgrid_feedback({**base, "event": "dropped", "reason": "Bounced Address"})
    assert dropped is not None
    assert dropped.kind is FeedbackKind.hard
    blocked = sendgrid_feedback({**base, "event": "bounce", "type": "blocked", "status": "5.7.1"})
    assert blocked is not None
    assert blocked.kind is FeedbackKind.soft
    spam = sendgrid_feedback({**base, "event": "spamreport", "sg_message_id": "abc.filter0001.1"})
    assert spam is not None
    assert spam.kind is FeedbackKind.complaint
    assert "abc" in spam.provider_message_ids


def test_mailgun_events() -> None:
    event = mailgun_failure(DELIVERY, WORKSPACE, "ann@example.com")
    hard = mailgun_feedback(event)
    assert hard is not None
    assert (hard.kind, hard.code, hard.delivery_id) == (FeedbackKind.hard, "5.1.1", DELIVERY)
    assert hard.message_id == f"<{DELIVERY}@shop.example>"
    old = mailgun_feedback(
        {**event, "reason": "old", "delivery-status": {"code": 421, "message": "try later"}}
    )
    assert old is not None
    assert old.kind is FeedbackKind.soft
    assert mailgun_feedback({**event, "severity": "temporary"}) is None
    complained = mailgun_feedback({**event, "event": "complained"})
    assert complained is not None
    assert complained.kind is FeedbackKind.complaint
