"""Each provider webhook: a good notification is applied; a forged, tampered, wrongly
keyed, stale or replayed one is refused with a 4xx and changes nothing."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.campaigns.support import World
from tests.delivery.bounces.support import (
    contact_status,
    delivery_status,
    sent_campaign,
    snapshot,
    suppression_reason,
)
from tests.delivery.webhooks.conftest import MAILGUN_KEY, POSTMARK_PASSWORD, POSTMARK_USER, Hooks
from tests.delivery.webhooks.signing import (
    TOPIC_ARN,
    mailgun_body,
    mailgun_failure,
    postmark_auth,
    postmark_bounce,
    rsa_certificate,
    sendgrid_bounce,
    sendgrid_keys,
    sendgrid_request,
    ses_bounce,
    ses_complaint,
    sign_sns,
    sns_notification,
)

SES = "/api/v1/webhooks/inbound/ses"
POSTMARK = "/api/v1/webhooks/inbound/postmark"
SENDGRID = "/api/v1/webhooks/inbound/sendgrid"
MAILGUN = "/api/v1/webhooks/inbound/mailgun"


async def refused(
    hooks: Hooks, world: World, status: int, url: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    """Post and check it was refused with `status`, leaving the database and stream alone."""
    before = await snapshot(world)
    events_before = await hooks.events()
    response = await hooks.client.post(url, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]
    assert await snapshot(world) == before
    assert await hooks.events() == events_before
    return response


# -- Amazon SES through SNS -----------------------------------------------------------


def sns_body(hooks: Hooks, notification: dict[str, Any], version: str = "1", **kw: Any) -> bytes:
    message = sign_sns(
        sns_notification(notification, **kw), hooks.sns_key, hooks.sns.cert_url, version
    )
    return json.dumps(message).encode()


@pytest.mark.parametrize("version", ["1", "2"])
async def test_ses_bounce_through_sns_is_applied(hooks: Hooks, world: World, version: str) -> None:
    sent = await sent_campaign(world, ["ann"])
    body = sns_body(hooks, ses_bounce(f"pm-{sent['ann'].id}", "ann@example.com"), version)
    response = await hooks.client.post(SES, content=body)
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 1
    assert await suppression_reason(world, "ann@example.com") == "hard_bounce"
    assert await delivery_status(world, sent["ann"].id) == "bounced"
    [event] = await hooks.events()
    assert event[b"k"] == b"bounce"
    assert event[b"src"] == b"ses"
    assert event[b"d"] == sent["ann"].id.hex.encode()


async def test_ses_complaint_and_certificate_cache(hooks: Hooks, world: World) -> None:
    sent = await sent_campaign(world, ["ann", "bob"])
    for name in ("ann", "bob"):
        body = sns_body(hooks, ses_complaint(f"pm-{sent[name].id}", f"{name}@example.com"))
        assert (await hooks.client.post(SES, content=body)).status_code == 200
    assert await contact_status(world, "ann") == "complained"
    assert await contact_status(world, "bob") == "complained"
    # The signing certificate was fetched once for both.
    assert sum(path.endswith(".pem") for path in hooks.sns.requests) == 1


async def test_ses_forged_tampered_wrong_key_stale_and_replayed(hooks: Hooks, world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    notification = ses_bounce(f"pm-{sent['ann'].id}", "ann@example.com")
    good = sign_sns(sns_notification(notification), hooks.sns_key, hooks.sns.cert_url)

    forged = {**good, "Signature": "bm90IGEgc2lnbmF0dXJl"}
    await refused(hooks, world, 401, SES, json.dumps(forged).encode(), {})

    tampered = {**good, "Message": good["Message"].replace("Permanent", "Transient")}
    await refused(hooks, world, 401, SES, json.dumps(tampered).encode(), {})

    other_key, _ = rsa_certificate()
    wrong_key = sign_sns(sns_notification(notification), other_key, hooks.sns.cert_url)
    await refused(hooks, world, 401, SES, json.dumps(wrong_key).encode(), {})

    # A certificate from a host that is not SNS's is never fetched.
    fetched = list(hooks.sns.requests)
    elsewhere = sign_sns(
        sns_notification(notification), hooks.sns_key, "https://attacker.example/cert.pem"
    )
    await refused(hooks, world, 401, SES, json.dumps(elsewhere).encode(), {})
    assert hooks.sns.requests == fetched

    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    stale = sign_sns(sns_notification(notification, at=old), hooks.sns_key, hooks.sns.cert_url)
    await refused(hooks, world, 401, SES, json.dumps(stale).encode(), {})

    unknown_topic = sign_sns(
        sns_notification(notification, topic="arn:aws:sns:us-east-1:999999999999:other"),
        hooks.sns_key,
        hooks.sns.cert_url,
    )
    await refused(hooks, world, 401, SES, json.dumps(unknown_topic).encode(), {})

    assert (await hooks.client.post(SES, content=json.dumps(good).encode())).status_code == 200
    assert await contact_status(world, "ann") == "bounced"
    await refused(hooks, world, 409, SES, json.dumps(good).encode(), {})


async def test_sns_subscription_is_confirmed_only_for_a_configured_topic(
    hooks: Hooks, world: World
) -> None:
    def confirmation(topic: str, token: str) -> bytes:
        message = {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": topic,
            "Message": f"You have chosen to subscribe to the topic {topic}.",
            "SubscribeURL": hooks.sns.subscribe_url(token),
            "Timestamp": sns_notification({})["Timestamp"],
        }
        return json.dumps(sign_sns(message, hooks.sns_key, hooks.sns.cert_url)).encode()

    await refused(
        hooks, world, 401, SES, confirmation("arn:aws:sns:us-east-1:999999999999:x", "t-other"), {}
    )
    assert not any("t-other" in path for path in hooks.sns.requests)

    response = await hooks.client.post(SES, content=confirmation(TOPIC_ARN, "t-ours"))
    assert response.status_code == 200, response.text
    assert response.json()["confirmed"] is True
    assert any("Token=t-ours" in path for path in hooks.sns.requests)


# -- Postmark ---------------------------------------------------------------------------


async def test_postmark_bounce_is_applied_and_checked(hooks: Hooks, world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    record = postmark_bounce(sent["ann"].id, world.workspace_id, "ann@example.com")
    body = json.dumps(record).encode()
    auth = postmark_auth(POSTMARK_USER, POSTMARK_PASSWORD)

    await refused(hooks, world, 401, POSTMARK, body, {})
    await refused(hooks, world, 401, POSTMARK, body, postmark_auth(POSTMARK_USER, "wrong"))
    await refused(hooks, world, 401, POSTMARK, body, {"Authorization": "Basic !!!"})
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    stale = postmark_bounce(sent["ann"].id, world.workspace_id, "ann@example.com", at=old)
    await refused(hooks, world, 401, POSTMARK, json.dumps(stale).encode(), auth)

    response = await hooks.client.post(POSTMARK, content=body, headers=auth)
    assert response.status_code == 200, response.text
    assert await suppression_reason(world, "ann@example.com") == "hard_bounce"
    await refused(hooks, world, 409, POSTMARK, body, auth)


async def test_postmark_spam_complaint(hooks: Hooks, world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    record = postmark_bounce(
        sent["ann"].id,
        world.workspace_id,
        "ann@example.com",
        record_type="SpamComplaint",
        bounce_type="SpamComplaint",
    )
    auth = postmark_auth(POSTMARK_USER, POSTMARK_PASSWORD)
    response = await hooks.client.post(POSTMARK, content=json.dumps(record).encode(), headers=auth)
    assert response.status_code == 200
    assert await contact_status(world, "ann") == "complained"


# -- SendGrid ---------------------------------------------------------------------------


async def test_sendgrid_signed_events(hooks: Hooks, world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    events = [sendgrid_bounce(sent["ann"].id, world.workspace_id, "ann@example.com")]
    body, headers = sendgrid_request(events, hooks.sendgrid_key)

    await refused(hooks, world, 401, SENDGRID, body, {"Content-Type": "application/json"})
    forged = {**headers, "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQDforged"}
    await refused(hooks, world, 401, SENDGRID, body, forged)
    await refused(hooks, world, 401, SENDGRID, body.replace(b"5.1.1", b"4.2.2"), headers)
    other, _ = sendgrid_keys()
    await refused(hooks, world, 401, SENDGRID, *sendgrid_request(events, other))
    # Another timestamp with the same signature: the signature covers it.
    moved = {**headers, "X-Twilio-Email-Event-Webhook-Timestamp": str(int(time.time()) + 1)}
    await refused(hooks, world, 401, SENDGRID, body, moved)
    await refused(
        hooks,
        world,
        401,
        SENDGRID,
        *sendgrid_request(events, hooks.sendgrid_key, int(time.time()) - 3600),
    )

    response = await hooks.client.post(SENDGRID, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 1
    assert await contact_status(world, "ann") == "bounced"
    await refused(hooks, world, 409, SENDGRID, body, headers)


async def test_sendgrid_batch_with_spam_report_delivered_and_opens(
    hooks: Hooks, world: World
) -> None:
    sent = await sent_campaign(world, ["ann", "bob"])
    spam = {
        "email": "ann@example.com",
        "timestamp": int(time.time()),
        "event": "spamreport",
        "sg_event_id": "spam-1",
        "sg_message_id": f"pm-{sent['ann'].id}.filterdrecv-1",
    }
    delivered = {
        "email": "bob@example.com",
        "timestamp": int(time.time()),
        "event": "delivered",
        "sg_event_id": "dlv-1",
        "sg_message_id": f"pm-{sent['bob'].id}.filterdrecv-2",
        "response": "250 2.0.0 OK",
    }
    opened = {**delivered, "event": "open", "sg_event_id": "open-1"}
    body, headers = sendgrid_request([spam, delivered, opened], hooks.sendgrid_key)
    response = await hooks.client.post(SENDGRID, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["reports"] == 2
    assert await contact_status(world, "ann") == "complained"
    assert await contact_status(world, "bob") == "subscribed"
    kinds = sorted(event[b"k"] for event in await hooks.events())
    assert kinds == [b"complaint", b"delivered"]


# -- Mailgun ----------------------------------------------------------------------------


async def test_mailgun_signed_webhook(hooks: Hooks, world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    event = mailgun_failure(sent["ann"].id, world.workspace_id, "ann@example.com")
    body = mailgun_body(event, MAILGUN_KEY)

    payload = json.loads(body)
    forged = {**payload, "signature": {**payload["signature"], "signature": "0" * 64}}
    await refused(hooks, world, 401, MAILGUN, json.dumps(forged).encode(), {})
    tampered = {**payload, "event-data": {**event, "recipient": "bob@example.com"}}
    tampered["signature"]["token"] = payload["signature"]["token"][:-1] + "x"
    await refused(hooks, world, 401, MAILGUN, json.dumps(tampered).encode(), {})
    await refused(hooks, world, 401, MAILGUN, mailgun_body(event, "some-other-key"), {})
    stale = mailgun_body(event, MAILGUN_KEY, timestamp=int(time.time()) - 3600)
    await refused(hooks, world, 401, MAILGUN, stale, {})
    await refused(hooks, world, 400, MAILGUN, b"not json", {})

    response = await hooks.client.post(MAILGUN, content=body)
    assert response.status_code == 200, response.text
    assert await contact_status(world, "ann") == "bounced"
    await refused(hooks, world, 409, MAILGUN, body, {})


async def test_mailgun_temporary_failures_are_left_to_mailgun(hooks: Hooks, world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    event = {
        **mailgun_failure(sent["ann"].id, world.workspace_id, "ann@example.com"),
        "severity": "temporary",
    }
    before = await snapshot(world)
    response = await hooks.client.post(MAILGUN, content=mailgun_body(event, MAILGUN_KEY))
    assert response.status_code == 200
    assert response.json()["reports"] == 0
    assert await snapshot(world) == before


# -- tenancy and configuration ------------------------------------------------------------


async def test_a_webhook_for_workspace_a_never_touches_workspace_b(
    hooks: Hooks, world: World, other_world: World
) -> None:
    mine = await sent_campaign(world, ["ann"])
    theirs = await sent_campaign(other_world, ["ann"])
    before_b = await snapshot(other_world)
    auth = postmark_auth(POSTMARK_USER, POSTMARK_PASSWORD)
    record = postmark_bounce(mine["ann"].id, world.workspace_id, "ann@example.com")
    assert (
        await hooks.client.post(POSTMARK, content=json.dumps(record).encode(), headers=auth)
    ).status_code == 200
    assert await contact_status(world, "ann") == "bounced"
    assert await snapshot(other_world) == before_b

    # Metadata naming workspace A with B's delivery (and B's provider id) matches nothing.
    before_a = await snapshot(world)
    crossed = postmark_bounce(theirs["ann"].id, world.workspace_id, "ann@example.com")
    response = await hooks.client.post(POSTMARK, content=json.dumps(crossed).encode(), headers=auth)
    assert response.status_code == 200
    assert response.json()["unmatched"] == 1
    assert await snapshot(world) == before_a
    assert await snapshot(other_world) == before_b


async def test_an_unconfigured_webhook_is_not_found(
    hooks: Hooks, world: World, database_url: str, redis_url: str
) -> None:
    from maily.api.app import create_app, state_from
    from tests.conftest import make_settings

    settings = make_settings(database_url, redis_url)
    state = state_from(settings, hooks.app.state.maily.engine, hooks.redis)
    app = create_app(settings, state=state)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        for url in (SES, POSTMARK, SENDGRID, MAILGUN):
            response = await client.post(url, content=b"{}")
            assert response.status_code == 404, url
    await state.storage.aclose()
