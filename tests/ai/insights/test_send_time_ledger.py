"""Campaigns with send-time optimisation: each row's send_after is the contact's best
hour within the 24 hours after the start, the senders lease rows only when their time
comes, and the campaign is sent only once every deferred row is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.campaigns.engine import CampaignEngine
from maily.campaigns.scheduler import Scheduler
from maily.config import SchedulerSettings
from maily.kit.db import transaction
from maily.models import Contact, Event, ListMembership
from tests.campaigns.support import World, drop_world, new_world

# Fixed ids: the exploration draws hash (campaign, contact), so the plan is the same
# on every run (these ids draw no exploration).
CAMPAIGN_ID = uuid.UUID("018f2a59-0000-7000-8000-00000000c0de")
EVENING = uuid.UUID("018f2a59-0000-7000-8000-000000000e0e")
NEWCOMER = uuid.UUID("018f2a59-0000-7000-8000-00000000000a")
MORNING = [uuid.UUID(f"018f2a59-0000-7000-8000-0000000001{i:02d}") for i in range(6)]


async def populate(world: World) -> None:
    """Six morning readers (09:00 UTC) set the workspace's pattern; one Berlin
    contact reads at 20:00 local; a newcomer has no history at all."""
    now = datetime.now(UTC)
    people = [(EVENING, "evening", "Europe/Berlin"), (NEWCOMER, "newcomer", None)]
    people += [(cid, f"morning{i}", "UTC") for i, cid in enumerate(MORNING)]
    async with transaction(world.sessionmaker) as session:
        for contact_id, name, zone in people:
            session.add(
                Contact(
                    workspace_id=world.workspace_id,
                    id=contact_id,
                    email=f"{name}@example.com",
                    timezone=zone,
                )
            )
            world.contacts[name] = contact_id
        await session.flush()
        for contact_id, _, _ in people:
            session.add(
                ListMembership(
                    workspace_id=world.workspace_id,
                    list_id=world.lists["news"],
                    contact_id=contact_id,
                    status="subscribed",
                )
            )
        berlin = ZoneInfo("Europe/Berlin")
        for day in range(1, 31):
            date = (now - timedelta(days=day)).date()
            evening = datetime(date.year, date.month, date.day, 20, 10, tzinfo=berlin)
            session.add(_open(world, EVENING, evening))
            for contact_id in MORNING:
                morning = datetime(date.year, date.month, date.day, 9, 5, tzinfo=UTC)
                session.add(_open(world, contact_id, morning))
        # Machine opens (a privacy proxy at 03:00) are not a person's hours.
        for day in range(1, 31):
            proxy = datetime.combine(now.date() - timedelta(days=day), datetime.min.time(), UTC)
            session.add(_open(world, EVENING, proxy + timedelta(hours=3), machine="proxy"))


def _open(world: World, contact_id: uuid.UUID, at: datetime, machine: str | None = None) -> Event:
    return Event(
        workspace_id=world.workspace_id,
        occurred_at=at,
        contact_id=contact_id,
        type="open",
        machine=machine,
    )


async def send_afters(world: World, campaign_id: uuid.UUID) -> dict[str, datetime]:
    return {name: row.send_after for name, row in (await world.rows(campaign_id)).items()}


async def test_each_row_waits_for_its_contacts_best_hour(world: World) -> None:
    await populate(world)
    campaign_id = await world.campaign(id=CAMPAIGN_ID, send_time_optimisation=True)
    rows = await send_afters(world, campaign_id)
    async with transaction(world.sessionmaker) as session:
        started = (
            await session.execute(
                text("SELECT started_at FROM campaigns WHERE id = :c"), {"c": campaign_id}
            )
        ).scalar_one()
    assert set(rows) == {"evening", "newcomer", *(f"morning{i}" for i in range(6))}
    for at in rows.values():
        assert started - timedelta(seconds=5) <= at < started + timedelta(hours=24)
    # Their own hour, in their own zone (the proxy's 03:00 opens count for nothing).
    assert rows["evening"].astimezone(ZoneInfo("Europe/Berlin")).hour == 20
    # Readers and the newcomer alike get the workspace's 09:00 UTC.
    assert rows["newcomer"].astimezone(UTC).hour == 9
    assert all(rows[f"morning{i}"].astimezone(UTC).hour == 9 for i in range(6))


async def test_planning_again_plans_the_same_hours(world: World) -> None:
    await populate(world)
    campaign_id = await world.campaign(id=CAMPAIGN_ID, send_time_optimisation=True)
    first = await send_afters(world, campaign_id)
    await world.execute("DELETE FROM deliveries WHERE workspace_id = :w")
    await world.set_status(campaign_id, "scheduled")
    async with transaction(world.sessionmaker) as session:
        await CampaignEngine(session).begin(world.workspace_id, campaign_id)
    again = await send_afters(world, campaign_id)
    assert {n: (t.astimezone(UTC).hour) for n, t in again.items()} == {
        n: t.astimezone(UTC).hour for n, t in first.items()
    }


async def test_senders_lease_rows_only_when_their_time_comes(
    world: World, engine: AsyncEngine
) -> None:
    await populate(world)
    campaign_id = await world.campaign(id=CAMPAIGN_ID, send_time_optimisation=True)
    planned = await send_afters(world, campaign_id)
    now = datetime.now(UTC)
    due_now = {name for name, at in planned.items() if at <= now}
    later = set(planned) - due_now
    assert later, "the plan defers at least the evening reader or the morning ones"

    sender = world.sender()
    await world.drain(sender)
    sent = {m.recipient.split("@")[0] for m in world.transport.messages}
    assert sent == due_now
    scheduler = Scheduler(engine, world.sessionmaker, SchedulerSettings())
    try:
        report = await scheduler.tick()
        assert report is not None
        assert campaign_id not in report.finished
        assert await world.status_of(campaign_id) == "sending"

        # Their hour comes (the rows' time is moved, not the clock): sent, once each.
        await world.execute(
            "UPDATE deliveries SET send_after = now() - interval '1 second' "
            "WHERE workspace_id = :w AND status = 'queued'"
        )
        await world.drain(sender)
        recipients = [m.recipient.split("@")[0] for m in world.transport.messages]
        assert sorted(recipients) == sorted(planned)
        report = await scheduler.tick()
        assert report is not None
        assert campaign_id in report.finished
    finally:
        await scheduler.release()


async def test_without_the_option_everyone_is_due_at_once(world: World) -> None:
    await populate(world)
    campaign_id = await world.campaign(id=CAMPAIGN_ID)
    planned = await send_afters(world, campaign_id)
    assert all(at <= datetime.now(UTC) for at in planned.values())


async def test_an_ab_tests_held_back_rest_is_planned_when_the_winner_is_picked(
    world: World,
) -> None:
    await populate(world)
    template = world.composer.template()
    ab_test = {
        "variants": [
            {"name": "A", "subject": "One", "template_id": str(template)},
            {"name": "B", "subject": "Two", "template_id": str(template)},
        ],
        "test_percent": 50,
        "metric": "opens",
        "wait_minutes": 1,
    }
    campaign_id = await world.campaign(
        id=CAMPAIGN_ID, send_time_optimisation=True, ab_test=ab_test, template_id=template
    )
    # The test rows are planned too, and the winner waits for the last of them.
    async with transaction(world.sessionmaker) as session:
        decide_at, started = (
            await session.execute(
                text("SELECT ab_decide_at, started_at FROM campaigns WHERE id = :c"),
                {"c": campaign_id},
            )
        ).one()
    tested = [r.send_after for r in (await world.rows(campaign_id)).values() if r.variant]
    assert decide_at == max(*tested, started) + timedelta(minutes=1)
    rows = await world.rows(campaign_id)
    held = {name for name, row in rows.items() if row.variant is None}
    assert len(held) == 4
    assert all(rows[name].send_after.year > 9000 for name in held), "held for the winner"
    async with transaction(world.sessionmaker) as session:
        engine = CampaignEngine(session)
        campaign = await engine.campaigns.get(world.workspace_id, campaign_id, for_update=True)
        assert campaign is not None
        decided = datetime.now(UTC)
        await engine.declare_winner(campaign, "A")
    released = await send_afters(world, campaign_id)
    for name in held:
        assert decided - timedelta(seconds=5) <= released[name] < decided + timedelta(hours=24)
    if "evening" in held:
        assert released["evening"].astimezone(ZoneInfo("Europe/Berlin")).hour == 20
    for name in held - {"evening"}:
        assert released[name].astimezone(UTC).hour == 9


async def test_another_workspaces_engagement_never_enters_the_plan(world: World) -> None:
    await populate(world)
    other = await new_world(world.sessionmaker)
    try:
        # The other workspace's people read at 03:00 UTC, a lot; and one of them has
        # the same address as our newcomer.
        async with transaction(world.sessionmaker) as session:
            for i in range(20):
                person = Contact(
                    workspace_id=other.workspace_id,
                    email="newcomer@example.com" if i == 0 else f"night{i}@example.com",
                    timezone="UTC",
                )
                session.add(person)
                await session.flush()
                for day in range(1, 21):
                    at = datetime.now(UTC).replace(hour=3, minute=0) - timedelta(days=day)
                    session.add(
                        Event(
                            workspace_id=other.workspace_id,
                            occurred_at=at,
                            contact_id=person.id,
                            type="open",
                        )
                    )
        campaign_id = await world.campaign(id=CAMPAIGN_ID, send_time_optimisation=True)
        rows = await send_afters(world, campaign_id)
        assert rows["newcomer"].astimezone(UTC).hour == 9
        assert len(rows) == 8
    finally:
        await drop_world(other)


async def test_a_timezone_nobody_knows_falls_back_to_the_campaigns(world: World) -> None:
    await populate(world)
    stray = uuid.UUID("018f2a59-0000-7000-8000-0000000000f1")
    async with transaction(world.sessionmaker) as session:
        # Imported data can hold anything; AT TIME ZONE would fail on this name.
        session.add(
            Contact(
                workspace_id=world.workspace_id,
                id=stray,
                email="stray@example.com",
                timezone="Mars/Olympus_Mons",
            )
        )
        await session.flush()
        session.add(
            ListMembership(
                workspace_id=world.workspace_id,
                list_id=world.lists["news"],
                contact_id=stray,
                status="subscribed",
            )
        )
        session.add(_open(world, stray, datetime.now(UTC) - timedelta(days=2)))
    world.contacts["stray"] = stray
    campaign_id = await world.campaign(id=CAMPAIGN_ID, send_time_optimisation=True)
    rows = await send_afters(world, campaign_id)
    assert rows["stray"].astimezone(UTC).hour == 9  # the workspace's hour, in UTC
