"""The tracking paths inside the API app (what `maily api` and `maily up` serve)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from redis.asyncio import Redis

from maily.analytics.stream import decode_event
from maily.config import Settings
from maily.tracking.app import PIXEL
from maily.tracking.tokens import TokenSigner
from tests.tracking.conftest import stream


async def test_the_api_app_answers_tracking_paths_and_its_own(
    app: Any, settings: Settings, redis: Redis
) -> None:
    delivery = uuid.uuid4()
    signer = TokenSigner.from_settings(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        opened = await api.get(f"/t/o/{signer.sign_open(delivery)}.gif")
        assert opened.status_code == 200
        assert opened.content == PIXEL
        head = await api.head(f"/t/o/{signer.sign_open(delivery)}.gif")
        assert head.status_code == 200  # a HEAD is no open
        assert (await api.get(f"/t/c/{signer.sign_open(delivery)}")).status_code == 404
        unsubscribed = await api.post(
            f"/u/{signer.sign_unsubscribe(delivery)}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert unsubscribed.status_code == 200
        assert (await api.get("/t/bare")).status_code == 404  # benchmarks only
        assert (await api.get("/healthz")).json() == {"status": "ok"}
        assert (await api.get("/api/v1/openapi.json")).status_code == 200
    # The open answered before Redis had it: the app's batcher sends it first.
    await app.state.tracking_context.batcher.drain()
    events = [decode_event(e) for e in await stream(redis, settings)]
    assert [(e.kind, e.delivery_id) for e in events] == [
        ("open", delivery),
        ("unsubscribe", delivery),
    ]
