"""Tracking tests: the endpoints over ASGI (and over real HTTP for the role), with real
Redis for the stream and real PostgreSQL for link tables and pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.campaigns.content import content_of
from maily.config import Settings
from maily.delivery.composer import ContactRow, DeliveryRow
from maily.delivery.composing import CampaignComposer, PreparedMessages
from maily.kit.db import create_sessionmaker, transaction
from maily.models import Campaign
from maily.tracking.app import TrackingApp, TrackingContext
from maily.tracking.http import Receive, Scope, Send
from maily.tracking.server import build_context
from tests.delivery.conftest import sending_world
from tests.delivery.pipeline import POSTAL_ADDRESS, SendingWorld

__all__ = ["sending_world"]

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15"


@pytest.fixture
async def context(
    settings: Settings, redis: Redis, engine: AsyncEngine
) -> AsyncIterator[TrackingContext]:
    context = build_context(settings, redis, create_sessionmaker(engine))
    yield context
    await context.batcher.aclose()


@pytest.fixture
async def client(context: TrackingContext) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests return once the batcher has sent the events they gave
    it: opens and clicks answer before Redis has their event, and the tests read the
    stream right after."""
    app = TrackingApp(context, bare_endpoint=True)

    async def answered_then_sent(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)
        await context.batcher.drain()

    transport = httpx.ASGITransport(app=answered_then_sent)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"user-agent": BROWSER}
    ) as client:
        yield client


async def stream(redis: Redis, settings: Settings) -> list[dict[str, str]]:
    entries = await redis.xrange(settings.analytics.stream_key)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


@dataclass
class SentMessage:
    """One composed message of a begun campaign, as a mailbox would get it."""

    delivery_id: uuid.UUID
    contact_id: uuid.UUID
    html: str
    click_urls: list[str]
    open_url: str
    unsubscribe_url: str
    prepared: PreparedMessages

    def path(self, url: str) -> str:
        return "/" + url.split("/", 3)[3]


async def send_one(world: SendingWorld, settings: Settings) -> SentMessage:
    """A campaign begun for one contact and its message composed by the real composer."""
    await world.add_contacts(1)
    async with transaction(world.sessionmaker) as session:
        await session.execute(
            text("UPDATE lists SET visibility = 'public' WHERE workspace_id = :w"),
            {"w": world.workspace_id},
        )
    campaign_id = await world.begin_campaign()
    async with transaction(world.sessionmaker) as session:
        row = (
            await session.execute(
                text(
                    "SELECT d.id, d.contact_id, d.email, c.first_name FROM deliveries d"
                    " JOIN contacts c ON c.workspace_id = d.workspace_id AND c.id = d.contact_id"
                    " WHERE d.workspace_id = :w AND d.campaign_id = :c"
                ),
                {"w": world.workspace_id, "c": campaign_id},
            )
        ).one()
    async with transaction(world.sessionmaker) as session:
        campaign = await session.get(Campaign, (world.workspace_id, campaign_id))
        assert campaign is not None
        content = content_of(campaign, POSTAL_ADDRESS)
    composer = CampaignComposer(settings, world.sessionmaker)
    prepared = await composer.prepare(content)
    message = prepared.compose(
        DeliveryRow(row.id, world.workspace_id, campaign_id, row.contact_id, row.email, None, 0),
        ContactRow(row.contact_id, row.email, row.first_name),
    )
    assert message.html is not None
    html = message.html
    list_unsubscribe = dict(message.headers)["List-Unsubscribe"]
    hrefs = re.findall(r'href="([^"]+)"', html)
    clicks = [h for h in hrefs if "/t/c/" in h]
    opens = re.findall(r'src="([^"]+/t/o/[^"]+)"', html)
    unsubscribe = re.findall(r"<(https?://[^>]+/u/[^>]+)>", list_unsubscribe)[0]
    return SentMessage(row.id, row.contact_id, html, clicks, opens[0], unsubscribe, prepared)
