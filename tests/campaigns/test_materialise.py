"""Making the ledger: who is in the audience, A/B splits and timezone waves."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, text

from maily.campaigns.audience import audience_predicate
from maily.campaigns.engine import CampaignEngine
from maily.delivery.repository import DeliveryRepository
from maily.kit.db import transaction
from maily.models import Campaign, Delivery, Segment
from tests.campaigns.support import World


async def test_the_ledger_leaves_out_the_unmailable_and_holds_one_row_per_contact(
    world: World,
) -> None:
    await world.add_list("offers")
    await world.add_list("customers")
    await world.add_contacts(["ann"], lists=["news", "offers"])  # on two lists: one row
    await world.add_contacts(["bob"], lists=["news"])
    await world.add_contacts(["cat"], lists=["news"], status="unsubscribed")
    await world.add_contacts(["dan"], lists=["news"], status="bounced")
    await world.add_contacts(["eve"], lists=["news"])
    await world.suppress("eve@example.com")
    await world.add_contacts(["fay"], lists=["news"], membership="unconfirmed")
    await world.add_contacts(["gus"], lists=["offers"], membership="unsubscribed")
    await world.add_contacts(["hal"], lists=["offers", "customers"])  # excluded list
    await world.add_contacts(["ivy"])  # on no list at all

    campaign_id = await world.campaign(
        lists=["news", "offers"], exclude_list_ids=[world.lists["customers"]]
    )

    rows = await world.rows(campaign_id)
    assert set(rows) == {"ann", "bob"}
    assert {r.status for r in rows.values()} == {"queued"}
    assert rows["ann"].email == "ann@example.com"
    async with transaction(world.sessionmaker) as session:
        campaign = await session.get(Campaign, (world.workspace_id, campaign_id))
        assert campaign is not None
        assert campaign.audience_size == 2
        # Materialising again adds nobody: the ledger is unique per (campaign, contact).
        predicate = await audience_predicate(session, campaign)
        again = await DeliveryRepository(session).materialise(campaign, predicate)
    assert again == 0
    assert len(await world.rows(campaign_id)) == 2


async def test_segments_add_and_exclude(world: World) -> None:
    await world.add_contacts(["ann"], lists=["news"])
    await world.add_contacts(["vip1", "vip2"], tags=["vip"])
    await world.add_contacts(["vip3"], tags=["vip", "churned"])
    async with transaction(world.sessionmaker) as session:
        vips = Segment(
            workspace_id=world.workspace_id,
            name="VIPs",
            rules={"all": [{"field": "tags", "op": "has", "value": "vip"}]},
        )
        churned = Segment(
            workspace_id=world.workspace_id,
            name="Churned",
            rules={"all": [{"field": "tags", "op": "has", "value": "churned"}]},
        )
        session.add_all([vips, churned])
        await session.flush()
        segment_ids = (vips.id, churned.id)

    campaign_id = await world.campaign(
        segment_ids=[segment_ids[0]], exclude_segment_ids=[segment_ids[1]]
    )

    assert set(await world.rows(campaign_id)) == {"ann", "vip1", "vip2"}


async def test_a_deleted_segment_fails_the_campaign_with_the_reason(world: World) -> None:
    await world.add_contacts(["ann"], lists=["news"])
    async with transaction(world.sessionmaker) as session:
        campaign = Campaign(
            workspace_id=world.workspace_id,
            name="Gone",
            segment_ids=[uuid.uuid4()],
            status="scheduled",
            scheduled_at=datetime.now(UTC),
        )
        session.add(campaign)
        await session.flush()
        campaign_id = campaign.id
    async with transaction(world.sessionmaker) as session:
        failed = await CampaignEngine(session).begin(world.workspace_id, campaign_id)
    assert failed is not None
    assert failed.status == "failed"
    assert failed.failure_reason == "the audience cannot be built: segment not found"


async def test_an_ab_test_splits_its_share_evenly_and_holds_back_the_rest(world: World) -> None:
    names = [f"c{i:03}" for i in range(100)]
    await world.add_contacts(names, lists=["news"])
    template_b = world.composer.template()
    ab_test = {
        "variants": [
            {"name": "A", "subject": "Subject A", "template_id": None},
            {"name": "B", "subject": "Subject B", "template_id": str(template_b)},
            {"name": "C", "subject": "Subject C", "template_id": None},
        ],
        "test_percent": 30,
        "metric": "opens",
        "wait_minutes": 60,
    }
    campaign_id = await world.campaign(ab_test=ab_test)

    rows = await world.rows(campaign_id)
    split = Counter(r.variant for r in rows.values())
    assert split == {"A": 10, "B": 10, "C": 10, None: 70}
    held = [r for r in rows.values() if r.variant is None]
    assert all(r.send_after.year > 9000 for r in held), "held-back rows must wait for a winner"
    async with transaction(world.sessionmaker) as session:
        campaign = await session.get(Campaign, (world.workspace_id, campaign_id))
        assert campaign is not None
        assert campaign.ab_decide_at is not None
        assert campaign.started_at is not None
        assert campaign.ab_decide_at - campaign.started_at >= timedelta(minutes=60)

    await world.drain(world.sender())
    subjects = Counter(m.subject for m in world.transport.messages)
    assert subjects == {"Subject A": 10, "Subject B": 10, "Subject C": 10}


async def test_local_time_sends_go_out_in_timezone_waves(world: World) -> None:
    await world.add_contacts(["tokyo"], lists=["news"], timezone="Asia/Tokyo")
    await world.add_contacts(["york"], lists=["news"], timezone="America/New_York")
    await world.add_contacts(["nozone"], lists=["news"])
    await world.add_contacts(["typo"], lists=["news"], timezone="Mars/Olympus_Mons")
    wall = (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=9, minute=0, second=0, microsecond=0, tzinfo=None
    )

    campaign_id = await world.campaign(
        send_mode="local_time", local_send_at=wall, timezone="Europe/Paris"
    )

    rows = await world.rows(campaign_id)

    def at(zone: str) -> datetime:
        return wall.replace(tzinfo=ZoneInfo(zone))

    assert rows["tokyo"].send_after == at("Asia/Tokyo")
    assert rows["york"].send_after == at("America/New_York")
    # No zone, or one PostgreSQL does not know: the campaign's own zone.
    assert rows["nozone"].send_after == at("Europe/Paris")
    assert rows["typo"].send_after == at("Europe/Paris")
    # Nothing is due before its wave.
    assert (await world.sender().run_batch()).leased == 0

    await world.execute(
        "UPDATE deliveries SET send_after = now() WHERE workspace_id = :w AND contact_id = :tokyo",
        tokyo=world.contacts["tokyo"],
    )
    await world.drain(world.sender())
    assert world.transport.recipients() == ["tokyo@example.com"]


async def test_another_workspaces_contacts_never_enter_the_ledger(world: World) -> None:
    await world.add_contacts(["ann"], lists=["news"])
    campaign_id = await world.campaign()
    async with transaction(world.sessionmaker) as session:
        workspaces = {
            w
            for (w,) in await session.execute(
                select(Delivery.workspace_id).where(Delivery.campaign_id == campaign_id)
            )
        }
    assert workspaces == {world.workspace_id}


async def test_the_ledger_is_planned_for_the_tables_as_they_are_now(world: World) -> None:
    """A pooled connection may hold a generic plan of the audience statement made when
    the workspace had a handful of contacts (its plan probes every list membership for
    every contact). Materialising asks for a plan of this run's own, for this
    transaction only."""
    await world.add_contacts(["ann"], lists=["news"])
    campaign_id = await world.campaign(lists=["news"])
    async with transaction(world.sessionmaker) as session:
        campaign = await session.get(Campaign, (world.workspace_id, campaign_id))
        assert campaign is not None
        mode = text("SHOW plan_cache_mode")
        before = (await session.execute(mode)).scalar_one()
        predicate = await audience_predicate(session, campaign)
        await DeliveryRepository(session).materialise(campaign, predicate)
        assert (await session.execute(mode)).scalar_one() == "force_custom_plan"
    assert before != "force_custom_plan"
    async with transaction(world.sessionmaker) as session:
        assert (await session.execute(mode)).scalar_one() == before
