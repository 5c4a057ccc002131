"""Through the real job queue: a worker retries a failing delivery with backoff until the
receiver accepts it, and the log in PostgreSQL shows every attempt."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import maily.webhooks.tasks  # noqa: F401 - registers the webhook tasks
from maily.config import Settings
from maily.kit.db import create_sessionmaker, transaction
from maily.kit.queue import JobQueue, registry, set_current_queue
from maily.models import WebhookAttempt, WebhookDelivery
from maily.workers import run_worker
from tests.campaigns.support import World, drop_world, new_world
from tests.conftest import Stores
from tests.kit.queue.support import queue_redis_url_for
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.support import new_endpoint, one_delivery, webhook_settings


@pytest.fixture
async def world(engine: AsyncEngine) -> AsyncIterator[World]:
    created = await new_world(create_sessionmaker(engine))
    try:
        yield created
    finally:
        await drop_world(created)


@pytest.fixture
async def worker_settings(settings: Settings, stores: Stores) -> AsyncIterator[Settings]:
    name = f"test-hooks-{uuid.uuid4().hex[:10]}"
    redis_url = queue_redis_url_for(stores)
    yield settings.model_copy(
        update={
            "redis": settings.redis.model_copy(update={"url": redis_url}),
            "queue": settings.queue.model_copy(
                update={"name": name, "dequeue_timeout_seconds": 0.1, "concurrency": 2}
            ),
            "webhooks": webhook_settings(retry_base_seconds=0.2, retry_max_seconds=1.0),
        }
    )
    client = Redis.from_url(redis_url)
    for pattern in (f"saq:{name}:*", f"saq:job:{name}:*"):
        keys = [key async for key in client.scan_iter(match=pattern)]
        if keys:
            await client.delete(*keys)
    await client.aclose()


async def test_a_worker_retries_until_the_receiver_accepts(
    world: World, worker_settings: Settings
) -> None:
    assert worker_settings.redis.url
    queue = JobQueue.from_url(worker_settings.redis.url, worker_settings)
    await queue.connect()
    set_current_queue(queue)
    stop = asyncio.Event()
    running: asyncio.Task[None] | None = None
    try:
        async with running_receiver() as receiver:
            receiver.answer(500, 503)
            async with transaction(world.sessionmaker) as session:
                await new_endpoint(session, worker_settings, world.workspace_id, receiver.base_url)
                delivery_id = await one_delivery(session, world.workspace_id)
            # Committed: the first attempt's job is in the queue now.
            running = asyncio.create_task(run_worker(worker_settings, stop, registry=registry))
            requests = await receiver.wait_for(3, timeout=60)
            assert [r.headers["maily-attempt"] for r in requests] == ["1", "2", "3"]
            assert len({r.headers["maily-webhook-id"] for r in requests}) == 1
            delivery = await settled(world, delivery_id)
    finally:
        stop.set()
        if running is not None:
            await asyncio.wait_for(running, timeout=30)
        set_current_queue(None)
        await queue.disconnect()

    assert delivery.status == "succeeded"
    assert delivery.attempts == 3
    async with transaction(world.sessionmaker) as session:
        log = (
            await session.execute(
                select(WebhookAttempt.attempt, WebhookAttempt.response_status)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.attempt)
            )
        ).all()
    assert [tuple(row) for row in log] == [(1, 500), (2, 503), (3, 200)]
    assert isinstance(receiver, Receiver)


async def settled(world: World, delivery_id: uuid.UUID, timeout: float = 30.0) -> WebhookDelivery:
    """The delivery once its last attempt has committed (polled until the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        async with transaction(world.sessionmaker) as session:
            delivery = await session.get(WebhookDelivery, (world.workspace_id, delivery_id))
        assert delivery is not None
        if delivery.status != "pending":
            return delivery
        assert time.monotonic() < deadline, "the delivery never settled"
        await asyncio.sleep(0.05)
