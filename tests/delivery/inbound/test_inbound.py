"""Bounce and complaint mail through a real SMTP conversation on loopback to the server
of `maily inbound`, end to end into PostgreSQL and the event stream."""

from __future__ import annotations

import asyncio
import smtplib
import uuid
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from maily.analytics.relay import EventRelay
from maily.analytics.stream import EventKind, decode_event
from maily.delivery.verp import Verp
from tests.campaigns.support import World
from tests.conftest import make_settings
from tests.delivery.bounces.corpus import RETURN_PATH_DOMAIN, envelope_recipient, render
from tests.delivery.bounces.support import (
    contact_status,
    delivery_status,
    one,
    sent_campaign,
    snapshot,
    suppression_reason,
)
from tests.delivery.inbound.conftest import Inbound, running_inbound


def _send(port: int, recipient: str, raw: bytes) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("mx.sender.example")
        return client.sendmail("", [recipient], raw)


async def send(inbound: Inbound, recipient: str, raw: bytes) -> None:
    """Deliver one message and return once the server answered 250 to its data."""
    refused = await asyncio.to_thread(_send, inbound.port, recipient, raw)
    assert refused == {}


def corpus_mail(
    inbound: Inbound, name: str, delivery_id: uuid.UUID, recipient: str
) -> tuple[str, bytes]:
    raw = render(name, verp=inbound.verp, delivery_id=delivery_id, recipient=recipient)
    return envelope_recipient(name, inbound.verp, delivery_id), raw


async def test_hard_bounce_dsn_suppresses(inbound: Inbound, world: World) -> None:
    sent = await sent_campaign(world, ["ann", "bob"])
    await send(
        inbound, *corpus_mail(inbound, "gmail_user_unknown", sent["ann"].id, "ann@example.com")
    )
    assert await suppression_reason(world, "ann@example.com") == "hard_bounce"
    assert await contact_status(world, "ann") == "bounced"
    assert await delivery_status(world, sent["ann"].id) == "bounced"
    assert await contact_status(world, "bob") == "subscribed"
    [event] = await inbound.events()
    assert (event[b"k"], event[b"bt"], event[b"code"], event[b"src"]) == (
        b"bounce",
        b"hard",
        b"5.1.1",
        b"inbound",
    )
    assert event[b"d"] == sent["ann"].id.hex.encode()


@pytest.mark.parametrize("name", ["arf_yahoo_fbl", "arf_microsoft_jmrp"])
async def test_feedback_loop_complaint(inbound: Inbound, world: World, name: str) -> None:
    sent = await sent_campaign(world, ["ann"])
    recipient, raw = corpus_mail(inbound, name, sent["ann"].id, "ann@example.com")
    assert not recipient.startswith("bounces+")  # sent to the feedback address, not the VERP
    await send(inbound, recipient, raw)
    assert await contact_status(world, "ann") == "complained"
    assert await suppression_reason(world, "ann@example.com") == "complaint"
    assert (
        await one(world, "SELECT status FROM list_memberships WHERE workspace_id = :w")
        == "unsubscribed"
    )
    [event] = await inbound.events()
    assert event[b"k"] == b"complaint"


async def test_soft_bounces_reach_the_limit_and_repeats_count_once(
    inbound: Inbound, world: World
) -> None:
    sent = await sent_campaign(world, ["ann"])
    recipient, raw = corpus_mail(inbound, "postfix_mailbox_full", sent["ann"].id, "ann@example.com")
    # The same DSN delivered twice (an MTA retrying after a lost 250) counts once.
    await send(inbound, recipient, raw)
    await send(inbound, recipient, raw)
    assert await one(world, "SELECT count(*) FROM bounces WHERE workspace_id = :w") == 1
    for n in range(2):
        other = raw.replace(b"<4Rb3yF1Lr2z9tZn@", f"<again-{n}@".encode())
        await send(inbound, recipient, other)
    assert await one(world, "SELECT count(*) FROM bounces WHERE workspace_id = :w") == 3
    assert await contact_status(world, "ann") == "cleaned"
    assert await suppression_reason(world, "ann@example.com") == "soft_bounce"
    # A soft bounce does not mark the delivery bounced.
    assert await delivery_status(world, sent["ann"].id) == "sent"
    assert len(await inbound.events()) == 3


async def test_delayed_dsn_changes_nothing(inbound: Inbound, world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    before = await snapshot(world)
    await send(inbound, *corpus_mail(inbound, "postfix_delayed", sent["ann"].id, "ann@example.com"))
    assert await snapshot(world) == before
    assert await inbound.events() == []


async def test_unknown_and_forged_recipients_are_refused_at_rcpt(
    inbound: Inbound, world: World
) -> None:
    sent = await sent_campaign(world, ["ann"])
    before = await snapshot(world)
    raw = render(
        "gmail_user_unknown",
        verp=inbound.verp,
        delivery_id=sent["ann"].id,
        recipient="ann@example.com",
    )
    forged = Verp("not-our-secret").address(sent["ann"].id, RETURN_PATH_DOMAIN)
    for recipient in (f"postmaster@{RETURN_PATH_DOMAIN}", forged):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            await asyncio.to_thread(_send, inbound.port, recipient, raw)
        assert refused.value.recipients[recipient][0] == 550
    assert await snapshot(world) == before


async def test_a_bounce_for_workspace_a_never_touches_workspace_b(
    inbound: Inbound, world: World, other_world: World
) -> None:
    mine = await sent_campaign(world, ["ann"])
    await sent_campaign(other_world, ["ann"])
    before_b = await snapshot(other_world)
    await send(
        inbound,
        *corpus_mail(inbound, "outlook_recipient_not_found", mine["ann"].id, "ann@example.com"),
    )
    assert await contact_status(world, "ann") == "bounced"
    assert await snapshot(other_world) == before_b


async def test_message_id_needs_the_right_recipient(inbound: Inbound, world: World) -> None:
    """A DSN to the plain bounce address (no VERP tag) is tied to a delivery only by
    its Message-ID together with the recipient it names."""
    sent = await sent_campaign(world, ["ann"])
    plain = f"bounces@{RETURN_PATH_DOMAIN}"
    before = await snapshot(world)
    wrong = render(
        "postfix_user_unknown",
        verp=Verp("x"),
        delivery_id=sent["ann"].id,
        recipient="eve@example.com",
    )
    await send(inbound, plain, wrong)
    assert await snapshot(world) == before
    right = render(
        "postfix_user_unknown",
        verp=Verp("x"),
        delivery_id=sent["ann"].id,
        recipient="ann@example.com",
    )
    await send(inbound, plain, right)
    assert await contact_status(world, "ann") == "bounced"


async def test_a_bounce_is_kept_and_its_event_held_when_the_stream_is_down(
    database_url: str, world: World, redis: Redis
) -> None:
    # Redis does not answer (nothing listens on port 1): the bounce is still applied
    # and answered 250, its event is counted and held in PostgreSQL, and a relay
    # appends it once Redis answers.
    settings = make_settings(
        database_url, "redis://127.0.0.1:1/0", inbound={"host": "127.0.0.1", "port": 0}
    )
    before = REGISTRY.get_sample_value("maily_events_not_appended_total", {"kind": "bounce"}) or 0
    async with running_inbound(settings) as port:
        sent = await sent_campaign(world, ["ann"])
        verp = Verp.from_settings(settings)
        raw = render(
            "gmail_user_unknown", verp=verp, delivery_id=sent["ann"].id, recipient="ann@example.com"
        )
        recipient = envelope_recipient("gmail_user_unknown", verp, sent["ann"].id)
        assert await asyncio.to_thread(_send, port, recipient, raw) == {}
        assert await delivery_status(world, sent["ann"].id) == "bounced"
    after = REGISTRY.get_sample_value("maily_events_not_appended_total", {"kind": "bounce"})
    assert after == before + 1
    relay = EventRelay(world.sessionmaker, redis, settings.analytics.stream_key)
    assert await relay.relay(older_than=timedelta(0)) == (1, 1)
    ((_, fields),) = await redis.xrange(settings.analytics.stream_key)
    event = decode_event(fields)
    assert (event.kind, event.delivery_id, event.source) == (
        EventKind.bounce,
        sent["ann"].id,
        "inbound",
    )
    assert await relay.relay(older_than=timedelta(0)) == (0, 0)
