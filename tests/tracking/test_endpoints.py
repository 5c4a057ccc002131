"""The public endpoints over ASGI: what they answer, and what reaches the stream."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import text

from maily.analytics.stream import decode_event, encode_event
from maily.api.state import AppState
from maily.config import Settings, TrackingSettings
from maily.tracking.app import PIXEL, TrackingContext
from maily.tracking.http import TrustedProxies
from tests.delivery.pipeline import SendingWorld
from tests.tracking.conftest import SentMessage, send_one, stream

DELIVERY = uuid.UUID("0190f3a4-1111-7222-8333-444455556666")
TABLE = uuid.UUID("5f1c0b7e-2222-5333-8444-555566667777")


@pytest.fixture
async def sent(sending_world: SendingWorld, settings: Settings, app_state: AppState) -> SentMessage:
    return await send_one(sending_world, settings)


async def test_open_pixel_is_a_43_byte_gif_never_cached_and_appends_an_open(
    client: httpx.AsyncClient, context: TrackingContext, redis: Redis, settings: Settings
) -> None:
    token = context.signer.sign_open(DELIVERY)
    for path in (f"/t/o/{token}", f"/t/o/{token}.gif"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.content == PIXEL
        assert len(PIXEL) == 43
        assert response.headers["content-type"] == "image/gif"
        assert "no-store" in response.headers["cache-control"]
    events = [decode_event(e) for e in await stream(redis, settings)]
    assert [(e.kind, e.delivery_id, e.machine) for e in events] == [("open", DELIVERY, None)] * 2
    assert events[0].ip == "127.0.0.1"


async def test_click_goes_to_exactly_the_url_the_message_carried(
    client: httpx.AsyncClient, sent: SentMessage, redis: Redis, settings: Settings
) -> None:
    assert len(sent.click_urls) == 2
    expected = ["https://shop.example.com/spring", "https://shop.example.com/blog?from=mail"]
    for url, target in zip(sent.click_urls, expected, strict=True):
        response = await client.get(sent.path(url))
        assert response.status_code == 302
        assert response.headers["location"] == target
    events = [decode_event(e) for e in await stream(redis, settings)]
    # The event names the link table the token carried: the consumer counts that URL.
    (table,) = sent.prepared.link_tables.values()
    assert [(e.kind, e.delivery_id, e.link_index, e.link_table) for e in events] == [
        ("click", sent.delivery_id, 0, table),
        ("click", sent.delivery_id, 1, table),
    ]


async def test_click_falls_back_to_postgresql_when_cache_and_redis_lost_the_table(
    client: httpx.AsyncClient,
    context: TrackingContext,
    sent: SentMessage,
    redis: Redis,
    settings: Settings,
) -> None:
    table = next(iter(sent.prepared.link_tables.values()))
    key = settings.tracking.link_table_key_prefix + table.hex
    assert await redis.exists(key)  # the composer published it
    await redis.delete(key)
    context.links.forget()
    response = await client.get(sent.path(sent.click_urls[1]))
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example.com/blog?from=mail"
    assert context.links.database_hits == 1
    assert await redis.exists(key)  # put back for the next process
    context.links.forget()
    response = await client.get(sent.path(sent.click_urls[0]))
    assert response.headers["location"] == "https://shop.example.com/spring"
    assert context.links.database_hits == 1
    assert context.links.redis_hits == 1


def _flip(token: str, position: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[position] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


async def test_tampered_truncated_and_wrong_kind_tokens_get_404_and_no_event(
    client: httpx.AsyncClient,
    context: TrackingContext,
    sent: SentMessage,
    redis: Redis,
    settings: Settings,
) -> None:
    click = sent.path(sent.click_urls[0]).removeprefix("/t/c/")
    opened = context.signer.sign_open(sent.delivery_id)
    unsubscribe = context.signer.sign_unsubscribe(sent.delivery_id)
    table = next(iter(sent.prepared.link_tables.values()))
    out_of_range = context.signer.sign_click(sent.delivery_id, 2, table)
    unknown_table = context.signer.sign_click(sent.delivery_id, 0, uuid.uuid4())
    paths = [
        *(f"/t/c/{_flip(click, position)}" for position in (0, 5, 20, 34, 40, 50)),
        f"/t/c/{click[:-1]}",
        f"/t/c/{click[:44]}",
        f"/t/c/{opened}",  # an open token is no click
        f"/t/c/{unsubscribe}",
        f"/t/c/{out_of_range}",  # signed, but the message had two links
        f"/t/c/{unknown_table}",
        f"/t/o/{click}",
        f"/t/o/{unsubscribe}",
        f"/t/o/{_flip(opened, 3)}",
        "/t/o/",
        "/t/c/",
        f"/t/o/{opened}/../../x",
    ]
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "location" not in response.headers
    for path in (f"/u/{click}", f"/u/{opened}", f"/u/{_flip(unsubscribe, 9)}"):
        assert (await client.post(path, data={"List-Unsubscribe": "One-Click"})).status_code == 404
        assert (await client.get(path)).status_code == 404
    assert await stream(redis, settings) == []


async def test_one_click_unsubscribe_per_rfc_8058(
    client: httpx.AsyncClient, sent: SentMessage, redis: Redis, settings: Settings
) -> None:
    path = sent.path(sent.unsubscribe_url)
    # GET shows a confirmation page with a button that POSTs, and changes nothing.
    page = await client.get(path)
    assert page.status_code == 200
    assert '<form method="post">' in page.text
    assert "<button" in page.text
    assert await stream(redis, settings) == []
    # The mailbox provider's POST: no cookies, no login, answered 200, no redirect.
    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as bare:
        for _ in range(2):  # a repeated POST is still 200
            response = await bare.post(
                path,
                content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code == 200
            assert "set-cookie" not in response.headers
    # The page's own button.
    assert (await client.post(path, data={"confirm": "1"})).status_code == 200
    events = [decode_event(e) for e in await stream(redis, settings)]
    assert [(e.kind, e.delivery_id, e.channel) for e in events] == [
        ("unsubscribe", sent.delivery_id, "one_click"),
        ("unsubscribe", sent.delivery_id, "one_click"),
        ("unsubscribe", sent.delivery_id, "link"),
    ]


async def test_unsubscribe_tokens_do_not_expire(
    client: httpx.AsyncClient, context: TrackingContext, redis: Redis, settings: Settings
) -> None:
    # Nothing in a token says when it was made: one signed long ago verifies today.
    token = context.signer.sign_unsubscribe(DELIVERY)
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == 1 + 16 + 16
    assert (
        await client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    ).status_code == 200


async def test_preference_center_unsubscribes_from_the_lists_left(
    client: httpx.AsyncClient,
    sent: SentMessage,
    sending_world: SendingWorld,
    redis: Redis,
    settings: Settings,
) -> None:
    path = sent.path(sent.unsubscribe_url).replace("/u/", "/p/")
    page = await client.get(path)
    assert page.status_code == 200
    assert "Readers" in page.text
    assert sending_world.list_id.hex in page.text
    assert await stream(redis, settings) == []
    # Unticking the list and saving leaves it; nothing else changes in PostgreSQL here.
    saved = await client.post(path, data={})
    assert saved.status_code == 200
    assert "Readers" in saved.text
    everything = await client.post(path, data={"all": "1"})
    assert everything.status_code == 200
    events = [decode_event(e) for e in await stream(redis, settings)]
    assert [(e.kind, e.channel, e.lists) for e in events] == [
        ("unsubscribe", "preferences", (sending_world.list_id,)),
        ("unsubscribe", "preferences", ()),
    ]
    async with sending_world.sessionmaker() as session:
        status = await session.scalar(
            text("SELECT status FROM list_memberships WHERE workspace_id = :w AND contact_id = :c"),
            {"w": sending_world.workspace_id, "c": sent.contact_id},
        )
    assert status == "subscribed"


async def test_view_online_renders_the_delivery_s_message(
    client: httpx.AsyncClient, sent: SentMessage, redis: Redis, settings: Settings
) -> None:
    path = sent.path(sent.unsubscribe_url).replace("/u/", "/v/")
    response = await client.get(path)
    assert response.status_code == 200
    assert "Our spring offers are in" in response.text
    assert "Reader1" in response.text
    # Its links are the message's own tracked links, and no open is counted.
    assert sent.click_urls[0] in response.text
    assert await stream(redis, settings) == []
    other = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert (await client.get(other)).status_code == 404


async def test_redis_down_open_and_cached_click_still_answer_unsubscribe_says_503(
    settings: Settings, context: TrackingContext, sent: SentMessage, client: httpx.AsyncClient
) -> None:
    from maily.tracking.app import TrackingApp
    from maily.tracking.metrics import TRACKING_EVENTS, TRACKING_EVENTS_LOST
    from maily.tracking.server import build_context

    # Warm the link cache, then point a context at a Redis nobody listens on, whose
    # batcher gives up retrying after a fraction of a second.
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    quick = settings.model_copy(
        update={"tracking": settings.tracking.model_copy(update={"retry_seconds": 0.3})}
    )
    broken = build_context(quick, down, None)
    table = next(iter(sent.prepared.link_tables.values()))
    links = await context.links.get(table)
    assert links is not None
    broken.links._remember(table, links)
    app = TrackingApp(broken)
    lost = {kind: TRACKING_EVENTS_LOST.labels(kind=kind)._value.get() for kind in ("open", "click")}
    stored = {kind: TRACKING_EVENTS.value(kind) for kind in ("open", "click")}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as offline:
        opened = await offline.get(f"/t/o/{broken.signer.sign_open(sent.delivery_id)}")
        assert opened.status_code == 200
        assert opened.content == PIXEL
        clicked = await offline.get(sent.path(sent.click_urls[0]))
        assert clicked.status_code == 302
        assert clicked.headers["location"] == "https://shop.example.com/spring"
        # Answered before Redis took them: the batcher still holds both, retrying.
        assert broken.batcher.unacknowledged == 2
        refused = await offline.post(
            sent.path(sent.unsubscribe_url), data={"List-Unsubscribe": "One-Click"}
        )
        assert refused.status_code == 503
        assert "could not be recorded" in refused.text
    # Past the retry window both are counted lost, and neither as stored.
    await broken.batcher.aclose()
    assert broken.batcher.unacknowledged == 0
    for kind in ("open", "click"):
        assert TRACKING_EVENTS_LOST.labels(kind=kind)._value.get() == lost[kind] + 1
        assert TRACKING_EVENTS.value(kind) == stored[kind]
    await down.aclose()


async def test_machines_are_flagged_at_ingest(
    client: httpx.AsyncClient, context: TrackingContext, redis: Redis, settings: Settings
) -> None:
    token = context.signer.sign_open(DELIVERY)
    await client.get(f"/t/o/{token}", headers={"user-agent": "Mozilla/5.0"})
    await client.get(
        f"/t/o/{token}",
        headers={
            "user-agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
        },
    )
    await client.get(f"/t/o/{token}", headers={"user-agent": "curl/8.5.0"})
    await client.get(f"/t/o/{token}")
    machines = [decode_event(e).machine for e in await stream(redis, settings)]
    assert machines == ["proxy", "proxy", "bot", None]


async def test_open_and_click_entries_are_exactly_the_contract_s_encoding(
    client: httpx.AsyncClient,
    context: TrackingContext,
    sent: SentMessage,
    redis: Redis,
    settings: Settings,
) -> None:
    await client.get(
        f"/t/o/{context.signer.sign_open(sent.delivery_id)}", headers={"user-agent": "curl/8"}
    )
    await client.get(sent.path(sent.click_urls[1]), headers={"user-agent": ("é" * 600).encode()})
    entries = await stream(redis, settings)
    assert len(entries) == 2
    for entry in entries:
        assert encode_event(decode_event(entry)) == entry
    assert decode_event(entries[1]).link_index == 1
    assert decode_event(entries[1]).link_table in sent.prepared.link_tables.values()
    assert decode_event(entries[0]).link_table is None
    assert len(decode_event(entries[1]).user_agent) == 512


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    settings: Settings, redis: Redis, context: TrackingContext
) -> None:
    from maily.tracking.app import TrackingApp

    token = context.signer.sign_open(DELIVERY)
    headers = {"x-forwarded-for": "198.51.100.1, 17.58.101.4", "user-agent": "Firefox/120"}
    for trusted, expected in (
        (TrustedProxies(), "127.0.0.1"),
        (TrustedProxies(["127.0.0.1"]), "17.58.101.4"),
        # Proxies known by their network, as an ingress's pods are.
        (TrustedProxies(["10.0.0.0/8", "127.0.0.0/8"]), "17.58.101.4"),
        (TrustedProxies(["10.0.0.0/8", "::1/128"]), "127.0.0.1"),
    ):
        context.trusted_proxies = trusted
        transport = httpx.ASGITransport(app=TrackingApp(context))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get(f"/t/o/{token}", headers=headers)).status_code == 200
        await context.batcher.drain()
        event = decode_event((await stream(redis, settings))[-1])
        assert event.ip == expected
    context.trusted_proxies = TrustedProxies(["127.0.0.0/8"])
    transport = httpx.ASGITransport(app=TrackingApp(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get(f"/t/o/{token}", headers=headers)).status_code == 200
    await context.batcher.drain()
    event = decode_event((await stream(redis, settings))[-1])
    # The forwarded address is in Apple's network: the open is Mail Privacy Protection's.
    assert event.machine == "proxy"


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert TrackingSettings(trusted_proxies=["10.0.0.0/8", "192.0.2.7", "fd00::/8"])
    with pytest.raises(ValidationError, match="not an IP address or CIDR network"):
        TrackingSettings(trusted_proxies=["10.0.0.0/8", "load-balancer.internal"])
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert "10.1.2.3" in proxies
    assert "11.1.2.3" not in proxies
    assert "not an address" not in proxies
