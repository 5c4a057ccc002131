"""Applying bounces and complaints to the database: the policy, repeats and tenancy."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from maily.analytics.stream import encode_event
from maily.config import BounceSettings
from maily.delivery.bounces.feedback import Feedback, FeedbackKind, Source
from maily.delivery.bounces.service import BounceService, IngestResult
from maily.kit.db import transaction
from tests.campaigns.support import World
from tests.delivery.bounces.support import (
    contact_status,
    delivery_status,
    one,
    sent_campaign,
    snapshot,
    suppression_reason,
)

SETTINGS = BounceSettings(soft_bounce_limit=3, soft_bounce_window_days=30)


def feedback(kind: FeedbackKind, delivery_id: uuid.UUID | None, **values: object) -> Feedback:
    options: dict[str, object] = {
        "kind": kind,
        "source": Source.inbound,
        "occurred_at": datetime.now(UTC),
        "event_key": uuid.uuid4().hex,
        "code": "5.1.1" if kind is FeedbackKind.hard else "4.2.2",
        "diagnostic": "550 5.1.1 user unknown",
        "delivery_id": delivery_id,
    }
    options.update(values)
    return Feedback(**options)  # type: ignore[arg-type]


async def ingest(world: World, *feedbacks: Feedback) -> IngestResult:
    async with transaction(world.sessionmaker) as session:
        return await BounceService(session, SETTINGS).ingest(feedbacks)


async def test_hard_bounce_suppresses_and_marks_bounced(world: World) -> None:
    sent = await sent_campaign(world, ["ann", "bob"])
    result = await ingest(world, feedback(FeedbackKind.hard, sent["ann"].id))
    assert (result.recorded, result.suppressed) == (1, 1)
    assert await suppression_reason(world, "ann@example.com") == "hard_bounce"
    assert await contact_status(world, "ann") == "bounced"
    assert await delivery_status(world, sent["ann"].id) == "bounced"
    assert (
        await one(
            world,
            "SELECT last_code FROM deliveries WHERE workspace_id = :w AND id = :d",
            d=sent["ann"].id,
        )
        == 550
    )
    # Bob is untouched.
    assert await contact_status(world, "bob") == "subscribed"
    assert await delivery_status(world, sent["bob"].id) == "sent"
    # One stream event, in the contract's shape.
    [event] = result.events
    assert encode_event(event) == {
        "k": "bounce",
        "d": sent["ann"].id.hex,
        "t": str(event.at_ms),
        "src": "inbound",
        "bt": "hard",
        "code": "5.1.1",
        "diag": "550 5.1.1 user unknown",
    }
    assert (
        await one(world, "SELECT action FROM audit_log WHERE workspace_id = :w")
        == "contact.suppressed"
    )


async def test_soft_bounces_clean_at_the_limit_within_the_window(world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    delivery_id = sent["ann"].id
    now = datetime.now(UTC)
    # One long ago does not count; two recent ones do not reach the limit.
    await ingest(
        world,
        feedback(FeedbackKind.soft, delivery_id, occurred_at=now - timedelta(days=40)),
        feedback(FeedbackKind.soft, delivery_id, occurred_at=now - timedelta(days=10)),
        feedback(FeedbackKind.soft, delivery_id, occurred_at=now - timedelta(days=1)),
    )
    assert await suppression_reason(world, "ann@example.com") is None
    assert await contact_status(world, "ann") == "subscribed"
    assert await delivery_status(world, delivery_id) == "sent"

    result = await ingest(world, feedback(FeedbackKind.soft, delivery_id))
    assert result.suppressed == 1
    assert await suppression_reason(world, "ann@example.com") == "soft_bounce"
    assert await contact_status(world, "ann") == "cleaned"
    effects = await one(
        world,
        "SELECT string_agg(effect, ',' ORDER BY occurred_at) FROM bounces WHERE workspace_id = :w",
    )
    assert effects == "recorded,recorded,recorded,cleaned"


async def test_complaint_suppresses_unsubscribes_and_marks_complained(world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    result = await ingest(world, feedback(FeedbackKind.complaint, sent["ann"].id, code="abuse"))
    assert encode_event(result.events[0])["k"] == "complaint"
    assert encode_event(result.events[0])["bt"] == "complaint"
    assert await suppression_reason(world, "ann@example.com") == "complaint"
    assert await contact_status(world, "ann") == "complained"
    assert (
        await one(world, "SELECT status FROM list_memberships WHERE workspace_id = :w")
        == "unsubscribed"
    )
    assert (
        await one(
            world,
            "SELECT channel FROM consent_records WHERE workspace_id = :w AND action = 'unsubscribe'",
        )
        == "complaint"
    )
    # The message itself was delivered: a complaint does not make it a bounce.
    assert await delivery_status(world, sent["ann"].id) == "sent"
    # A later hard bounce does not hide the complaint.
    await ingest(world, feedback(FeedbackKind.hard, sent["ann"].id))
    assert await contact_status(world, "ann") == "complained"


async def test_a_repeated_report_changes_nothing(world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    first = feedback(FeedbackKind.complaint, sent["ann"].id)
    await ingest(world, first)
    before = await snapshot(world)
    again = await ingest(world, first)
    assert (again.recorded, again.duplicates, again.events) == (0, 1, [])
    assert await snapshot(world) == before


async def test_delivered_reports_only_make_an_event(world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    before = await snapshot(world)
    result = await ingest(world, feedback(FeedbackKind.delivered, sent["ann"].id, code=""))
    assert [encode_event(e) for e in result.events] == [
        {
            "k": "delivered",
            "d": sent["ann"].id.hex,
            "t": str(result.events[0].at_ms),
            "src": "inbound",
        }
    ]
    assert await snapshot(world) == before


async def test_provider_message_id_and_message_id_find_the_delivery(world: World) -> None:
    sent = await sent_campaign(world, ["ann", "bob"])
    await ingest(
        world,
        feedback(
            FeedbackKind.hard,
            None,
            provider_message_ids=(f"pm-{sent['ann'].id}",),
            recipient="ann@example.com",
        ),
        # Message-ID with the right recipient: Bob's delivery.
        feedback(
            FeedbackKind.hard,
            None,
            message_id=f"<{sent['bob'].id}@shop.example>",
            recipient="BOB@example.com",
        ),
    )
    assert await contact_status(world, "ann") == "bounced"
    assert await contact_status(world, "bob") == "bounced"


async def test_a_message_id_with_another_recipient_matches_nothing(world: World) -> None:
    sent = await sent_campaign(world, ["ann"])
    before = await snapshot(world)
    result = await ingest(
        world,
        feedback(
            FeedbackKind.hard,
            None,
            message_id=f"<{sent['ann'].id}@shop.example>",
            recipient="mallory@example.com",
        ),
    )
    assert result.unmatched == 1
    assert await snapshot(world) == before


async def test_a_report_for_workspace_a_never_touches_workspace_b(
    world: World, other_world: World
) -> None:
    mine = await sent_campaign(world, ["ann"])
    theirs = await sent_campaign(other_world, ["ann"])
    before_b = await snapshot(other_world)
    # A's delivery: only A changes, though B has a contact with the same address.
    await ingest(world, feedback(FeedbackKind.complaint, mine["ann"].id))
    assert await contact_status(world, "ann") == "complained"
    assert await snapshot(other_world) == before_b
    # B's delivery id claimed for workspace A (signed metadata naming A): no match.
    before_a = await snapshot(world)
    result = await ingest(
        world, feedback(FeedbackKind.hard, theirs["ann"].id, workspace_id=world.workspace_id)
    )
    assert result.unmatched == 1
    assert await snapshot(world) == before_a
    assert await snapshot(other_world) == before_b


async def test_concurrent_soft_bounces_meet_the_limit(world: World) -> None:
    """Three soft bounces applied at once, each in its own transaction: the contact's
    row lock makes each see the others, so the third cleans the address."""
    sent = await sent_campaign(world, ["ann"])
    await asyncio.gather(
        *(ingest(world, feedback(FeedbackKind.soft, sent["ann"].id)) for _ in range(3))
    )
    assert await contact_status(world, "ann") == "cleaned"
    assert await suppression_reason(world, "ann@example.com") == "soft_bounce"
    assert (
        await one(
            world, "SELECT count(*) FROM bounces WHERE workspace_id = :w AND effect = 'cleaned'"
        )
        == 1
    )
