"""Campaign moves become `campaign.state_changed` webhooks and live messages, after commit."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.analytics.consumer import AnalyticsConsumer
from maily.analytics.guard import Paused, Verdict
from maily.campaigns.progress import ProgressPublisher
from maily.config import Settings
from maily.kit.db import create_sessionmaker, transaction
from maily.kit.queue import JobContext, JobQueue
from maily.models import WebhookDelivery
from maily.realtime.channels import live_channel
from maily.webhooks.campaign_states import STATE_TASK
from maily.webhooks.tasks import campaign_state_changed
from tests.campaigns.support import World, drop_world, new_world
from tests.webhooks.support import new_endpoint, with_webhooks


@pytest.fixture
async def world(engine: AsyncEngine, job_queue_for_requests: JobQueue) -> AsyncIterator[World]:
    created = await new_world(create_sessionmaker(engine))
    try:
        yield created
    finally:
        await drop_world(created)


async def state_deliveries(world: World) -> list[WebhookDelivery]:
    async with transaction(world.sessionmaker) as session:
        query = select(WebhookDelivery).where(
            WebhookDelivery.workspace_id == world.workspace_id,
            WebhookDelivery.event_type == "campaign.state_changed",
        )
        return list((await session.execute(query)).scalars())


async def test_a_pause_through_the_service_queues_one_announcement_after_commit(
    world: World, settings: Settings, redis: Redis, job_queue_for_requests: JobQueue
) -> None:
    hook_settings = with_webhooks(settings)
    await world.add_contacts(["ann"], lists=["news"])
    campaign_id = await world.campaign()
    async with transaction(world.sessionmaker) as session:
        await new_endpoint(
            session,
            hook_settings,
            world.workspace_id,
            "https://93.184.215.14/in",
            event_types=["campaign.state_changed"],
        )
    # A move that is rolled back announces nothing.
    queued: list[str] = []

    async def failing_request() -> None:
        async with transaction(world.sessionmaker) as session:
            await world.service(session).pause(world.ctx, campaign_id)
            queued.extend(job.task for job in session.jobs.pending)
            raise RuntimeError("the request failed after the move")

    depth = await job_queue_for_requests.depth()
    with pytest.raises(RuntimeError):
        await failing_request()
    assert queued == [STATE_TASK]
    assert await job_queue_for_requests.depth() == depth

    async with transaction(world.sessionmaker) as session:
        await world.service(session).pause(world.ctx, campaign_id)
        [job] = [j for j in session.jobs.pending if j.task == STATE_TASK]
    assert job.kwargs["state"] == "paused"
    assert job.kwargs["previous"] == "sending"

    # The job as the worker runs it: one webhook delivery, one live message.
    pubsub = redis.pubsub()
    await pubsub.subscribe(live_channel(world.workspace_id))
    await pubsub.get_message(timeout=5)  # the subscribe confirmation
    for _ in range(2):  # a re-run (a crashed worker) makes no second delivery
        async with transaction(world.sessionmaker) as session:
            context = JobContext(
                session=session, settings=hook_settings, job_id="j", task=STATE_TASK, attempt=1
            )
            await campaign_state_changed(context, **job.kwargs)
    message = None
    while message is None or message["type"] != "message":
        message = await pubsub.get_message(timeout=5)
        assert message is not None, "nothing was published"
    await pubsub.aclose()
    assert json.loads(message["data"]) == {
        "type": "campaign.state",
        "campaign_id": str(campaign_id),
        "state": "paused",
        "previous": "sending",
        "reason": None,
    }
    [delivery] = await state_deliveries(world)
    assert delivery.payload["type"] == "campaign.state_changed"
    assert delivery.payload["data"] == {
        "campaign_id": str(campaign_id),
        "state": "paused",
        "previous_state": "sending",
        "reason": None,
    }


async def test_the_scheduler_publisher_queues_the_webhook_job_without_publishing_twice(
    world: World, redis: Redis, job_queue_for_requests: JobQueue
) -> None:
    campaign_id = uuid.uuid4()
    before = await job_queue_for_requests.depth()
    publisher = ProgressPublisher(redis, job_queue_for_requests)

    await publisher.status(world.workspace_id, campaign_id, "failed", reason="segment deleted")

    assert await job_queue_for_requests.depth() == before + 1
    prefix = f"saq:job:{job_queue_for_requests.name}:"
    [key] = [
        raw.decode()[len(prefix) :]
        async for raw in redis.scan_iter(match=f"{prefix}campaign-state:{campaign_id}:*")
    ]
    job = await job_queue_for_requests.job(key)
    assert job is not None
    assert job.task == STATE_TASK
    # Published by the publisher itself already: the job only makes the webhooks.
    assert job.kwargs["publish"] is False
    assert job.kwargs["state"] == "failed"
    assert job.kwargs["reason"] == "segment deleted"


async def test_a_guard_pause_queues_the_webhook_job_after_the_analytics_commit(
    world: World, settings: Settings, redis: Redis, job_queue_for_requests: JobQueue
) -> None:
    campaign_id = uuid.uuid4()
    consumer = AnalyticsConsumer(
        settings, world.sessionmaker, redis, name="guard-test", queue=job_queue_for_requests
    )
    paused = Paused(
        workspace_id=world.workspace_id,
        campaign_id=campaign_id,
        campaign_name="Spring sale",
        verdict=Verdict(rate="complaint", value=0.004, limit=0.003, sent=1000),
        owners=(),
    )

    # What the consumer does once the batch that paused the campaign has committed.
    await consumer._after_commit({}, [paused])

    prefix = f"saq:job:{job_queue_for_requests.name}:"
    [key] = [
        raw.decode()[len(prefix) :]
        async for raw in redis.scan_iter(match=f"{prefix}campaign-state:{campaign_id}:*")
    ]
    job = await job_queue_for_requests.job(key)
    assert job is not None
    assert job.kwargs["state"] == "paused"
    assert job.kwargs["previous"] == "sending"
    assert "complaint rate" in job.kwargs["reason"]
    assert job.kwargs["publish"] is False  # the consumer published the live message itself
