"""The sender engine against real PostgreSQL and Redis, with a recording transport."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import select, text

from maily.campaigns.progress import ProgressPublisher, channel
from maily.config import SenderSettings, Settings
from maily.contacts.subscriptions import unsubscribe
from maily.delivery.parts import DeliveryParts
from maily.delivery.sender import run_sender
from maily.delivery.transports.base import Outcome, SendResult
from maily.kit.db import transaction
from maily.models import Contact, SuppressionEntry
from maily.segments.compiler import segment_predicate
from maily.segments.schemas import SegmentRules
from tests.campaigns.support import World


async def test_a_campaign_is_sent_once_to_each_contact(world: World) -> None:
    await world.add_contacts(["ann", "bob", "cat"], lists=["news"])
    campaign_id = await world.campaign(subject="Winter news")
    before = REGISTRY.get_sample_value("maily_deliveries_settled_total", {"status": "sent"}) or 0

    assert await world.drain(world.sender()) == 1

    rows = await world.rows(campaign_id)
    assert {r.status for r in rows.values()} == {"sent"}
    assert all(r.sent_at and r.provider_message_id for r in rows.values())
    assert sorted(world.transport.recipients()) == [
        "ann@example.com",
        "bob@example.com",
        "cat@example.com",
    ]
    message = world.transport.messages[0]
    assert message.subject == "Winter news"
    assert message.delivery_id in {r.id for r in rows.values()}
    # Compiled once for the campaign, not once per message.
    assert world.composer.prepared[campaign_id] == 1
    after = REGISTRY.get_sample_value("maily_deliveries_settled_total", {"status": "sent"})
    assert after == before + 3


async def test_pause_and_cancel_take_effect_within_one_batch(world: World) -> None:
    await world.add_contacts([f"c{i}" for i in range(8)], lists=["news"])
    campaign_id = await world.campaign()
    sender = world.sender(batch_size=2)
    world.transport.gate = asyncio.Event()

    in_flight = asyncio.create_task(sender.run_batch())
    await world.transport.entered.wait()
    async with transaction(world.sessionmaker) as session:
        await world.service(session).pause(world.ctx, campaign_id)
    world.transport.gate.set()
    report = await in_flight

    # The batch already with the transport finishes and is recorded; nothing more goes.
    assert report.outcomes["sent"] == 2
    assert (await sender.run_batch()).leased == 0
    assert len(world.transport.messages) == 2

    async with transaction(world.sessionmaker) as session:
        await world.service(session).resume(world.ctx, campaign_id)
    assert (await sender.run_batch()).leased == 2
    async with transaction(world.sessionmaker) as session:
        await world.service(session).cancel(world.ctx, campaign_id)
    assert (await sender.run_batch()).leased == 0

    rows = await world.rows(campaign_id)
    statuses = sorted(r.status for r in rows.values())
    assert statuses == ["sent"] * 4 + ["skipped"] * 4
    assert len(world.transport.messages) == 4
    # Resuming never re-sent the first batch.
    assert len(set(world.transport.recipients())) == 4


async def test_a_contact_unsubscribed_during_the_send_gets_nothing_after_the_next_batch(
    world: World,
) -> None:
    await world.add_contacts(["ann", "bob", "cat", "dan"], lists=["news"])
    campaign_id = await world.campaign()
    sender = world.sender(batch_size=1)
    first = await sender.run_batch()
    assert first.outcomes["sent"] == 1
    already = world.transport.recipients()[0].split("@")[0]
    remaining = sorted({"ann", "bob", "cat", "dan"} - {already})
    gone_everywhere, gone_from_list = remaining[0], remaining[1]

    async with transaction(world.sessionmaker) as session:
        contact = await session.get(Contact, (world.workspace_id, world.contacts[gone_everywhere]))
        assert contact is not None
        await unsubscribe(
            session, workspace_id=world.workspace_id, contact=contact, list_id=None, channel="link"
        )
        other = await session.get(Contact, (world.workspace_id, world.contacts[gone_from_list]))
        assert other is not None
        await unsubscribe(
            session,
            workspace_id=world.workspace_id,
            contact=other,
            list_id=world.lists["news"],
            channel="one_click",
        )

    await world.drain(sender)

    rows = await world.rows(campaign_id)
    assert rows[gone_everywhere].status == "skipped"
    assert rows[gone_from_list].status == "skipped"
    assert rows[remaining[2]].status == "sent"
    recipients = world.transport.recipients()
    assert f"{gone_everywhere}@example.com" not in recipients
    assert f"{gone_from_list}@example.com" not in recipients
    assert len(recipients) == 2


async def test_a_suppression_added_during_the_send_skips_the_address(world: World) -> None:
    await world.add_contacts(["ann", "bob"], lists=["news"])
    campaign_id = await world.campaign()
    await world.suppress("bob@example.com", reason="complaint")

    await world.drain(world.sender())

    rows = await world.rows(campaign_id)
    assert (rows["ann"].status, rows["bob"].status) == ("sent", "skipped")
    assert world.transport.recipients() == ["ann@example.com"]


async def test_a_deferral_is_retried_after_its_backoff(world: World) -> None:
    await world.add_contacts(["ann"], lists=["news"])
    campaign_id = await world.campaign()
    world.transport.answer(
        "ann@example.com", SendResult(Outcome.deferred, 451, "greylisted", retry_after=None)
    )
    sender = world.sender(retry_base_seconds=600, retry_max_seconds=3600)

    await sender.run_batch()
    row = (await world.rows(campaign_id))["ann"]
    assert (row.status, row.attempts, row.last_code, row.last_detail) == (
        "deferred",
        1,
        451,
        "greylisted",
    )
    assert row.first_attempt_at is not None
    # rand() = 1.0: the full first backoff, 600 s.
    waited = (row.send_after - row.first_attempt_at).total_seconds()
    assert 595 < waited < 610
    assert (await sender.run_batch()).leased == 0  # not due yet

    await world.execute("UPDATE deliveries SET send_after = now() WHERE workspace_id = :w")
    await sender.run_batch()

    row = (await world.rows(campaign_id))["ann"]
    assert (row.status, row.attempts) == ("sent", 2)
    assert world.transport.recipients() == ["ann@example.com"] * 2


async def test_deferrals_fail_once_the_retry_window_is_used_up(world: World) -> None:
    await world.add_contacts(["ann"], lists=["news"])
    campaign_id = await world.campaign()
    deferred = SendResult(Outcome.deferred, 421, "try again later")
    world.transport.answer("ann@example.com", deferred, deferred)
    sender = world.sender(retry_base_seconds=60, retry_window_seconds=3600)

    await sender.run_batch()
    assert (await world.rows(campaign_id))["ann"].status == "deferred"
    # The first attempt was long ago: the next wait would pass the window's end.
    await world.execute(
        "UPDATE deliveries SET send_after = now(), "
        "first_attempt_at = now() - interval '3599 seconds' WHERE workspace_id = :w"
    )
    await sender.run_batch()

    row = (await world.rows(campaign_id))["ann"]
    assert row.status == "failed"
    assert row.attempts == 2
    assert row.last_detail is not None
    assert row.last_detail.startswith("retry window exhausted after 2 attempts")
    assert (await sender.run_batch()).leased == 0


async def test_a_bounce_suppresses_the_address_and_marks_the_contact(world: World) -> None:
    await world.add_contacts(["ann", "bob"], lists=["news"])
    campaign_id = await world.campaign()
    world.transport.answer("bob@example.com", SendResult(Outcome.bounced, 550, "no such user"))

    await world.drain(world.sender())

    rows = await world.rows(campaign_id)
    assert rows["bob"].status == "bounced"
    assert (rows["bob"].last_code, rows["bob"].last_detail) == (550, "no such user")
    async with transaction(world.sessionmaker) as session:
        bob = await session.get(Contact, (world.workspace_id, world.contacts["bob"]))
        assert bob is not None
        assert bob.status == "bounced"
        entries = (
            await session.execute(
                select(SuppressionEntry).where(SuppressionEntry.workspace_id == world.workspace_id)
            )
        ).scalars()
        assert [(e.value, e.reason) for e in entries] == [("bob@example.com", "hard_bounce")]
    # The next campaign leaves the address out from the start.
    second = await world.campaign()
    assert set(await world.rows(second)) == {"ann"}


async def test_a_send_sets_the_contacts_last_send_and_count(world: World) -> None:
    await world.add_contacts(["ann", "bob", "cat"], lists=["news"])
    world.transport.answer("bob@example.com", SendResult(Outcome.bounced, 550, "no such user"))
    first = await world.campaign()
    await world.drain(world.sender())
    second = await world.campaign()
    await world.drain(world.sender())
    assert {r.status for r in (await world.rows(second)).values()} == {"sent"}

    async with transaction(world.sessionmaker) as session:
        rows = (
            await session.execute(
                text(
                    "SELECT email, sends_count, last_sent_at, now() - last_sent_at < "
                    "interval '1 minute' AS recent FROM contacts WHERE workspace_id = :w"
                ),
                {"w": world.workspace_id},
            )
        ).all()
        sent_at = (
            await session.execute(
                text("SELECT max(sent_at) FROM deliveries WHERE campaign_id = :c"), {"c": second}
            )
        ).scalar_one()
    by_email = {row.email: row for row in rows}
    # Ann and Cat got both campaigns; Bob's first message bounced, so he got none.
    assert {email: row.sends_count for email, row in by_email.items()} == {
        "ann@example.com": 2,
        "bob@example.com": 0,
        "cat@example.com": 2,
    }
    assert by_email["bob@example.com"].last_sent_at is None
    assert by_email["ann@example.com"].recent
    assert by_email["ann@example.com"].last_sent_at >= sent_at
    # The segment rule "received any campaign within a day" reads that column.
    rules = SegmentRules.model_validate({"event": "received", "within_days": 1})
    async with transaction(world.sessionmaker) as session:
        received = (
            await session.scalars(
                select(Contact.email).where(segment_predicate(world.workspace_id, rules, {}))
            )
        ).all()
    assert sorted(received) == ["ann@example.com", "cat@example.com"]
    assert (await world.rows(first))["bob"].status == "bounced"


async def test_an_unknown_outcome_is_never_sent_again(world: World) -> None:
    await world.add_contacts(["ann"], lists=["news"])
    campaign_id = await world.campaign()
    world.transport.answer("ann@example.com", SendResult(Outcome.unknown, None, "lost after DATA"))
    sender = world.sender()

    await sender.run_batch()
    await world.execute("UPDATE deliveries SET send_after = now() WHERE workspace_id = :w")
    assert await world.drain(sender) == 0

    row = (await world.rows(campaign_id))["ann"]
    assert (row.status, row.attempts) == ("unknown", 1)
    assert world.transport.recipients() == ["ann@example.com"]


async def test_one_message_that_cannot_be_composed_fails_alone(world: World) -> None:
    await world.add_contacts(["ann"], lists=["news"])
    await world.add_contacts(["bob"], lists=["news"], fields={"explode": True})
    campaign_id = await world.campaign()

    await world.drain(world.sender())

    rows = await world.rows(campaign_id)
    assert rows["ann"].status == "sent"
    assert rows["bob"].status == "failed"
    assert "the template broke" in (rows["bob"].last_detail or "")


async def test_a_campaign_whose_content_is_gone_fails_without_burning_its_rows(
    world: World,
) -> None:
    await world.add_contacts(["ann", "bob"], lists=["news"])
    campaign_id = await world.campaign()
    world.composer.templates.clear()  # the template was deleted meanwhile

    report = await world.sender().run_batch()

    assert report.failed_campaigns == [campaign_id]
    assert await world.status_of(campaign_id) == "failed"
    rows = await world.rows(campaign_id)
    assert {(r.status, r.attempts) for r in rows.values()} == {("queued", 0)}
    assert world.transport.messages == []


async def test_progress_is_published_after_each_batch(world: World, redis: Redis) -> None:
    await world.add_contacts(["ann", "bob", "cat"], lists=["news"])
    campaign_id = await world.campaign()
    world.transport.answer("cat@example.com", SendResult(Outcome.bounced, 550, "gone"))
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel(world.workspace_id))
    await pubsub.get_message(timeout=5)  # the subscribe confirmation
    sender = world.sender()
    sender.publisher = ProgressPublisher(redis)

    await sender.run_batch()

    message: dict[str, Any] | None = None
    while message is None or message["type"] != "message":
        message = await pubsub.get_message(timeout=5)
        assert message is not None, "nothing was published"
    body = json.loads(message["data"])
    assert body == {
        "type": "campaign.progress",
        "campaign_id": str(campaign_id),
        "changed": {"sent": 2, "bounced": 1},
    }
    await pubsub.aclose()


async def test_the_loop_sends_everything_and_stops_on_the_stop_event(world: World) -> None:
    names = [f"c{i:02}" for i in range(30)]
    await world.add_contacts(names, lists=["news"])
    campaign_id = await world.campaign()
    sender = world.sender(batch_size=4, concurrency=3, poll_interval_seconds=0.05)
    stop = asyncio.Event()
    everything_sent = asyncio.Event()
    original = world.transport.send

    async def send_and_watch(messages: Any) -> Any:
        results = await original(messages)
        if len(world.transport.messages) >= len(names):
            everything_sent.set()
        return results

    world.transport.send = send_and_watch  # type: ignore[method-assign]
    running = asyncio.create_task(sender.run(stop))
    await asyncio.wait_for(everything_sent.wait(), timeout=30)
    stop.set()
    await asyncio.wait_for(running, timeout=30)

    rows = await world.rows(campaign_id)
    assert {r.status for r in rows.values()} == {"sent"}
    assert sorted(world.transport.recipients()) == sorted(f"{n}@example.com" for n in names)


async def test_lanes_compose_in_turn_on_one_thread_off_the_event_loop(world: World) -> None:
    names = [f"t{i:02}" for i in range(24)]
    await world.add_contacts(names, lists=["news"])
    await world.campaign()
    threads: set[int] = set()
    lock = threading.Lock()
    overlap = threading.Event()
    state = {"active": 0, "most": 0, "calls": 0}
    prepare = world.composer.prepare

    async def recording_prepare(campaign: Any) -> Any:
        prepared = await prepare(campaign)
        compose = prepared.compose

        def on_thread(delivery: Any, contact: Any) -> Any:
            with lock:
                threads.add(threading.get_ident())
                state["calls"] += 1
                state["active"] += 1
                state["most"] = max(state["most"], state["active"])
                first = state["calls"] == 1
                if state["active"] > 1:
                    overlap.set()
            try:
                if first:
                    # The other lanes have their batches meanwhile: were they composed on
                    # threads of their own, one would start here before the deadline.
                    overlap.wait(timeout=1.0)
                return compose(delivery, contact)
            finally:
                with lock:
                    state["active"] -= 1

        prepared.compose = on_thread  # type: ignore[method-assign]
        return prepared

    world.composer.prepare = recording_prepare  # type: ignore[method-assign]
    sender = world.sender(batch_size=3, concurrency=4, poll_interval_seconds=0.05)
    stop = asyncio.Event()
    everything_sent = asyncio.Event()
    original = world.transport.send

    async def send_and_watch(messages: Any) -> Any:
        results = await original(messages)
        if len(world.transport.messages) >= len(names):
            everything_sent.set()
        return results

    world.transport.send = send_and_watch  # type: ignore[method-assign]
    running = asyncio.create_task(sender.run(stop))
    await asyncio.wait_for(everything_sent.wait(), timeout=30)
    stop.set()
    await asyncio.wait_for(running, timeout=30)

    assert state["most"] == 1
    assert len(threads) == 1
    assert threading.get_ident() not in threads


async def test_a_batch_slower_than_its_lease_keeps_its_rows(world: World) -> None:
    # A paced or slow relay can hold a batch longer than the lease; the sender is alive,
    # so its rows must not be leased again (and sent twice) as if it had died.
    await world.add_contacts(["ann", "bob"], lists=["news"])
    campaign_id = await world.campaign()
    slow = world.sender(lease_seconds=0.6)
    world.transport.gate = asyncio.Event()
    batch = asyncio.create_task(slow.run_batch())
    await asyncio.wait_for(world.transport.entered.wait(), timeout=10)
    first_expiry = max(r.lease_expires_at for r in (await world.rows(campaign_id)).values())

    deadline = asyncio.get_running_loop().time() + 10
    while True:  # until the database clock is two lease lengths past the first lease
        async with transaction(world.sessionmaker) as session:
            passed = await session.scalar(
                text("SELECT now() > CAST(:t AS timestamptz) + interval '1.2 seconds'"),
                {"t": first_expiry},
            )
        if passed:
            break
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)

    assert (await world.sender(owner="sender-2").lease()).rows == []
    rows = await world.rows(campaign_id)
    assert {r.lease_owner for r in rows.values()} == {"sender-1"}
    assert all(r.lease_expires_at > first_expiry for r in rows.values())
    world.transport.gate.set()
    report = await asyncio.wait_for(batch, timeout=10)
    assert report.outcomes == {"sent": 2}
    assert sorted(world.transport.recipients()) == ["ann@example.com", "bob@example.com"]


async def test_a_sender_never_takes_back_rows_its_own_batch_still_holds(world: World) -> None:
    await world.add_contacts(["ann", "bob"], lists=["news"])
    campaign_id = await world.campaign()
    sender = world.sender(lease_seconds=60)
    world.transport.gate = asyncio.Event()
    batch = asyncio.create_task(sender.run_batch())
    await asyncio.wait_for(world.transport.entered.wait(), timeout=10)
    async with transaction(world.sessionmaker) as session:
        # As if renewal had fallen behind (a stalled host): the lease ran out.
        await session.execute(
            text(
                "UPDATE deliveries SET lease_expires_at = now() - interval '1 second'"
                " WHERE campaign_id = :c"
            ),
            {"c": campaign_id},
        )

    # Another of its lanes must not send them again; to another sender they are a
    # dead sender's rows, and the first one can then no longer record them.
    assert (await sender.lease()).rows == []
    assert len((await world.sender(owner="sender-2").lease()).rows) == 2
    world.transport.gate.set()
    assert (await asyncio.wait_for(batch, timeout=10)).outcomes == {}
    rows = await world.rows(campaign_id)
    assert {(r.status, r.lease_owner) for r in rows.values()} == {("leased", "sender-2")}


def test_owner_names_differ_between_senders() -> None:
    from maily.delivery.sender import default_owner

    assert default_owner() != default_owner()
    assert len(default_owner()) <= 64


async def test_the_sender_role_sends_with_the_parts_it_is_given(
    world: World, settings: Settings
) -> None:
    await world.add_contacts(["ann", "bob"], lists=["news"])
    campaign_id = await world.campaign()
    stop = asyncio.Event()
    done = asyncio.Event()
    original = world.transport.send

    async def send_and_watch(messages: Any) -> Any:
        results = await original(messages)
        if len(world.transport.messages) >= 2:
            done.set()
        return results

    world.transport.send = send_and_watch  # type: ignore[method-assign]
    role_settings = settings.model_copy(
        update={"sender": SenderSettings(concurrency=2, poll_interval_seconds=0.05)}
    )
    parts = DeliveryParts(world.composer, world.transport)
    running = asyncio.create_task(run_sender(role_settings, stop, parts=parts))
    await asyncio.wait_for(done.wait(), timeout=30)
    stop.set()
    await asyncio.wait_for(running, timeout=30)

    assert {r.status for r in (await world.rows(campaign_id)).values()} == {"sent"}
    assert world.transport.closed


async def test_without_parts_the_sender_role_waits_for_its_stop(settings: Settings) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(run_sender(settings, stop))
    stop.set()
    await asyncio.wait_for(running, timeout=30)


async def test_a_contact_held_by_another_transaction_alone_misses_its_last_send(
    world: World,
) -> None:
    await world.add_contacts(["ann", "bob"], lists=["news"])
    campaign_id = await world.campaign()
    # Another transaction holds Ann's row (a bulk action, say) for the whole batch.
    async with world.sessionmaker() as other, other.begin():
        await other.execute(
            text("SELECT 1 FROM contacts WHERE workspace_id = :w AND id = :c FOR UPDATE"),
            {"w": world.workspace_id, "c": world.contacts["ann"]},
        )
        assert await world.drain(world.sender()) == 1
    # Both were sent and recorded; only Ann's send columns were given up.
    assert {r.status for r in (await world.rows(campaign_id)).values()} == {"sent"}
    async with transaction(world.sessionmaker) as session:
        counts = (
            await session.execute(
                text("SELECT email, sends_count FROM contacts WHERE workspace_id = :w"),
                {"w": world.workspace_id},
            )
        ).all()
    assert dict(counts) == {"ann@example.com": 0, "bob@example.com": 1}
