"""The repository's reads, checked field by field against the rows they come from."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from maily.analytics.repository import AnalyticsRepository
from maily.analytics.tally import DeliveryContext
from maily.kit.db import transaction
from tests.analytics.support import AnalyticsWorld


async def test_a_resolved_delivery_carries_each_of_its_own_columns(world: AnalyticsWorld) -> None:
    sent_at = datetime.now(UTC) - timedelta(hours=3)
    campaign_id, (delivery_id, other_id) = await world.campaign(2, sent_at=sent_at, variants=("B",))
    opened, human_opened = sent_at + timedelta(minutes=1), sent_at + timedelta(minutes=2)
    clicked, human_clicked = sent_at + timedelta(minutes=3), sent_at + timedelta(minutes=4)
    async with transaction(world.sessionmaker) as session:
        await session.execute(
            text(
                "UPDATE deliveries SET first_open_at = :o, first_human_open_at = :ho,"
                " first_click_at = :c, first_human_click_at = :hc WHERE id = :id"
            ),
            {"o": opened, "ho": human_opened, "c": clicked, "hc": human_clicked, "id": delivery_id},
        )
        template_id = (
            await session.execute(
                text("SELECT template_id FROM campaigns WHERE id = :id"), {"id": campaign_id}
            )
        ).scalar_one()
    contact_id, email = world.deliveries[delivery_id]
    async with transaction(world.sessionmaker) as session:
        found = await AnalyticsRepository(session).resolve([delivery_id, other_id, uuid.uuid4()])
    assert set(found) == {delivery_id, other_id}
    assert found[delivery_id] == DeliveryContext(
        workspace_id=world.workspace_id,
        delivery_id=delivery_id,
        campaign_id=campaign_id,
        contact_id=contact_id,
        variant="B",
        domain=email.rpartition("@")[2],
        sent_at=sent_at,
        template_id=template_id,
        first_open_at=opened,
        first_human_open_at=human_opened,
        first_click_at=clicked,
        first_human_click_at=human_clicked,
    )
    assert found[other_id].first_open_at is None
    assert found[other_id].delivery_id == other_id
