"""The stream dispatcher: entries of `maily:events` become deliveries for subscribed
endpoints, once each, acknowledged after commit; a dead consumer's entries are taken over."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.config import Settings
from maily.kit.db import create_engine, create_sessionmaker, transaction
from maily.kit.queue import JobQueue, JobStatus
from maily.models import WebhookDelivery
from maily.webhooks.dispatcher import StreamDispatcher
from maily.webhooks.service import deliver_job_key
from tests.campaigns.support import World, drop_world, new_world
from tests.conftest import _with_database
from tests.webhooks.support import new_endpoint, with_webhooks


@pytest.fixture
async def world(engine: AsyncEngine, job_queue_for_requests: JobQueue) -> AsyncIterator[World]:
    created = await new_world(create_sessionmaker(engine))
    try:
        yield created
    finally:
        await drop_world(created)


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    analytics = settings.analytics.model_copy(
        update={"stream_key": f"test:events:{uuid.uuid4().hex}"}
    )
    return with_webhooks(settings, claim_idle_seconds=0.0001).model_copy(
        update={"analytics": analytics}
    )


async def deliveries(world: World) -> list[WebhookDelivery]:
    async with transaction(world.sessionmaker) as session:
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.workspace_id == world.workspace_id)
            .order_by(WebhookDelivery.event_id)
        )
        return list((await session.execute(query)).scalars())


async def test_entries_become_deliveries_once_and_are_acknowledged_after_commit(
    world: World, hook_settings: Settings, redis: Redis, job_queue_for_requests: JobQueue
) -> None:
    await world.add_contacts(["ann", "bob"], lists=["news"])
    campaign_id = await world.campaign()
    rows = await world.rows(campaign_id)
    async with transaction(world.sessionmaker) as session:
        endpoint_id, _ = await new_endpoint(
            session,
            hook_settings,
            world.workspace_id,
            "https://93.184.215.14/in",
            event_types=["email.opened", "email.clicked"],
        )
    stream = hook_settings.analytics.stream_key
    open_id = (
        await redis.xadd(
            stream, {"k": "open", "d": rows["ann"].id.hex, "t": "1700000000000", "m": "proxy"}
        )
    ).decode()
    click_id = (
        await redis.xadd(
            stream, {"k": "click", "d": rows["bob"].id.hex, "t": "1700000001000", "l": "2"}
        )
    ).decode()
    await redis.xadd(stream, {"k": "bounce", "d": rows["ann"].id.hex, "t": "1", "bt": "hard"})
    await redis.xadd(stream, {"k": "open", "d": uuid.uuid4().hex, "t": "1"})  # unknown delivery
    await redis.xadd(stream, {"k": "open", "d": "not-an-id", "t": "1"})

    dispatcher = StreamDispatcher(redis, world.sessionmaker, hook_settings, consumer="one")
    await dispatcher.ensure_group()
    await dispatcher.ensure_group()  # idempotent
    assert await dispatcher.step() == 5

    made = await deliveries(world)
    assert [(d.event_id, d.event_type) for d in made] == [
        (f"s:{open_id}", "email.opened"),
        (f"s:{click_id}", "email.clicked"),
    ]
    opened = made[0].payload
    assert opened["id"] == f"s:{open_id}"
    assert opened["created_at"].startswith("2023-11-14T22:13:20")
    assert opened["data"] == {
        "delivery_id": str(rows["ann"].id),
        "campaign_id": str(campaign_id),
        "contact_id": str(world.contacts["ann"]),
        "email": "ann@example.com",
        "machine": "proxy",
        "user_agent": None,
    }
    assert made[1].payload["data"]["link_index"] == 2
    assert all(d.endpoint_id == endpoint_id for d in made)
    # Every entry is acknowledged; each delivery's first attempt is queued.
    pending = await redis.xpending(stream, hook_settings.webhooks.consumer_group)
    assert pending["pending"] == 0
    for delivery in made:
        job = await job_queue_for_requests.job(deliver_job_key(delivery.id, 1))
        assert job is not None
        assert job.status is JobStatus.queued
        assert job.kwargs["delivery_id"] == str(delivery.id)

    # Replaying the same entries (a crash before the ack) makes nothing new.
    entries = [(open_id, {"k": "open", "d": rows["ann"].id.hex, "t": "1700000000000"})]
    assert await dispatcher.handle(entries) == 0
    assert len(await deliveries(world)) == 2


async def test_entries_of_a_dead_consumer_are_taken_over(
    world: World, hook_settings: Settings, redis: Redis
) -> None:
    await world.add_contacts(["cat"], lists=["news"])
    campaign_id = await world.campaign()
    rows = await world.rows(campaign_id)
    async with transaction(world.sessionmaker) as session:
        await new_endpoint(session, hook_settings, world.workspace_id, "https://93.184.215.14/in")
    stream = hook_settings.analytics.stream_key
    group = hook_settings.webhooks.consumer_group
    alive = StreamDispatcher(redis, world.sessionmaker, hook_settings, consumer="alive")
    await alive.ensure_group()
    entry_id = (await redis.xadd(stream, {"k": "open", "d": rows["cat"].id.hex, "t": "1"})).decode()
    # Another consumer reads the entry and dies before acknowledging it.
    read = await redis.xreadgroup(group, "dead", {stream: ">"}, count=10)
    assert [e[0].decode() for e in read[0][1]] == [entry_id]

    assert await alive.step() == 1

    assert [d.event_id for d in await deliveries(world)] == [f"s:{entry_id}"]
    assert (await redis.xpending(stream, group))["pending"] == 0


async def test_a_restarted_consumer_finishes_its_own_unacknowledged_entries_first(
    world: World, hook_settings: Settings, redis: Redis
) -> None:
    await world.add_contacts(["dan"], lists=["news"])
    campaign_id = await world.campaign()
    rows = await world.rows(campaign_id)
    async with transaction(world.sessionmaker) as session:
        await new_endpoint(session, hook_settings, world.workspace_id, "https://93.184.215.14/in")
    stream = hook_settings.analytics.stream_key
    settings = with_webhooks(hook_settings, claim_idle_seconds=3600).model_copy(
        update={"analytics": hook_settings.analytics}
    )
    first = StreamDispatcher(redis, world.sessionmaker, settings, consumer="same-name")
    await first.ensure_group()
    await redis.xadd(stream, {"k": "open", "d": rows["dan"].id.hex, "t": "1"})
    await redis.xreadgroup(settings.webhooks.consumer_group, "same-name", {stream: ">"})

    again = StreamDispatcher(redis, world.sessionmaker, settings, consumer="same-name")
    assert await again.step() == 1

    assert len(await deliveries(world)) == 1
    assert (await redis.xpending(stream, settings.webhooks.consumer_group))["pending"] == 0


async def test_a_batch_that_fails_is_read_again_by_the_same_consumer(
    world: World, hook_settings: Settings, redis: Redis, engine: AsyncEngine
) -> None:
    await world.add_contacts(["eve"], lists=["news"])
    campaign_id = await world.campaign()
    rows = await world.rows(campaign_id)
    async with transaction(world.sessionmaker) as session:
        await new_endpoint(session, hook_settings, world.workspace_id, "https://93.184.215.14/in")
    stream = hook_settings.analytics.stream_key
    settings = with_webhooks(hook_settings, claim_idle_seconds=3600).model_copy(
        update={"analytics": hook_settings.analytics}
    )
    await redis.xadd(stream, {"k": "open", "d": rows["eve"].id.hex, "t": "1"})
    # PostgreSQL is unreachable for the first batch: a database that does not exist.
    url = engine.url.render_as_string(hide_password=False)
    broken = create_engine(_with_database(url, "maily_no_such_database"))
    dispatcher = StreamDispatcher(redis, create_sessionmaker(broken), settings, consumer="c")
    await dispatcher.ensure_group()
    with pytest.raises(Exception, match="maily_no_such_database"):
        await dispatcher.step()
    await broken.dispose()
    assert (await redis.xpending(stream, settings.webhooks.consumer_group))["pending"] == 1

    dispatcher.sessionmaker = world.sessionmaker  # the database is back
    assert await dispatcher.step() == 1

    assert len(await deliveries(world)) == 1
    assert (await redis.xpending(stream, settings.webhooks.consumer_group))["pending"] == 0
