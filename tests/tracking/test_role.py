"""`maily tracking` as its own process, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import httpx
import pytest
from redis.asyncio import Redis

from maily.analytics.stream import TrackingEvent, decode_event
from maily.config import Settings
from maily.tracking.app import PIXEL
from maily.tracking.tokens import TokenSigner
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_SECRET_KEY, _worker_index
from tests.delivery.pipeline import SendingWorld
from tests.tracking.conftest import send_one, stream

pytestmark = pytest.mark.slow


def _port(k: int) -> int:
    return 20000 + 100 * _worker_index() + k


async def _started(url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while True:
            assert process.returncode is None, "maily tracking exited early"
            assert time.monotonic() < deadline, "maily tracking did not start"
            try:
                if (await client.get(url, timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)  # polling a port with a deadline, not a stand-in


async def test_the_role_serves_the_endpoints_over_http(
    settings: Settings,
    redis: Redis,
    sending_world: SendingWorld,
) -> None:
    sent = await send_one(sending_world, settings)
    port = _port(10)
    assert settings.database.url
    assert settings.redis.url
    env = {
        **os.environ,
        "MAILY_ENVIRONMENT": "test",
        "MAILY_DATABASE_URL": settings.database.url,
        "MAILY_REDIS_URL": settings.redis.url,
        "MAILY_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
        "MAILY_SECURITY__ENCRYPTION_KEYS": f'["{TEST_ENCRYPTION_KEY}"]',
        "MAILY_TRACKING__PORT": str(port),
        "MAILY_TRACKING__BARE_ENDPOINT": "true",
        # The loopback peer is a trusted proxy: its X-Forwarded-For names the client.
        "MAILY_TRACKING__TRUSTED_PROXIES": '["127.0.0.0/8"]',
        "MAILY_ROLES__HEALTH_BASE_PORT": str(_port(20)),
        "MAILY_OBSERVABILITY__LOG_JSON": "false",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "maily",
        "tracking",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await _started(f"{base}/t/bare", process)
        signer = TokenSigner.from_settings(settings)
        async with httpx.AsyncClient(
            base_url=base, headers={"user-agent": "Mozilla/5.0 (X11) Firefox/120.0"}
        ) as client:
            token = signer.sign_open(sent.delivery_id)
            answers = await asyncio.gather(*(client.get(f"/t/o/{token}.gif") for _ in range(50)))
            assert all(a.status_code == 200 and a.content == PIXEL for a in answers)
            assert answers[0].headers["content-type"] == "image/gif"
            assert answers[0].headers["cache-control"].startswith("no-store")
            head = await client.head(f"/t/o/{token}.gif")  # no open
            assert head.status_code == 200
            assert (await client.get(f"/t/o/{token[:-2]}AA.gif")).status_code == 404
            clicked = await client.get(
                sent.path(sent.click_urls[1]), headers={"x-forwarded-for": "198.51.100.9"}
            )
            assert clicked.status_code == 302
            assert clicked.headers["location"] == "https://shop.example.com/blog?from=mail"
            assert clicked.content == b""
            assert (await client.get(f"/t/c/{token}")).status_code == 404
            # The quieter paths go through the ASGI bridge: pages, forms, 404s.
            asked = await client.get(sent.path(sent.unsubscribe_url))
            assert asked.status_code == 200
            assert '<form method="post"' in asked.text
            assert asked.headers["content-type"] == "text/html; charset=utf-8"
            preferences = await client.get(sent.path(sent.unsubscribe_url).replace("/u/", "/p/"))
            assert preferences.status_code == 200
            assert "<form" in preferences.text
            too_large = await client.post(
                sent.path(sent.unsubscribe_url),
                content=b"List-Unsubscribe=One-Click&pad=" + b"x" * 40_000,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert too_large.status_code == 413
            assert (await client.get("/elsewhere")).status_code == 404
            unsubscribed = await client.post(
                sent.path(sent.unsubscribe_url),
                content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert unsubscribed.status_code == 200
            assert "You are unsubscribed" in unsubscribed.text
            health = await client.get(f"http://127.0.0.1:{_port(20) + 8}/metrics")
            assert "maily_tracking_events_total" in health.text
            # 50 opens, a HEAD and a refused one; two clicks (one refused); the
            # unsubscribe page, a refused form and the unsubscribe: each timed
            latency = {
                line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
                for line in health.text.splitlines()
                if line.startswith("maily_tracking_request_duration_seconds_count")
            }
            assert latency['endpoint="open"'] == 52
            assert latency['endpoint="click"'] == 2
            assert latency['endpoint="unsubscribe"'] == 3
    finally:
        # Stopping sends what the batcher took: opens and clicks answer before Redis
        # has their events.
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, errors.decode()[-2000:]
    events = [decode_event(e) for e in await stream(redis, settings)]
    kinds: dict[str, list[TrackingEvent]] = {}
    for event in events:
        kinds.setdefault(event.kind, []).append(event)
    assert {kind: len(found) for kind, found in kinds.items()} == {
        "open": 50,
        "click": 1,
        "unsubscribe": 1,
    }
    assert {(e.user_agent, e.ip) for e in kinds["open"]} == {
        ("Mozilla/5.0 (X11) Firefox/120.0", "127.0.0.1")
    }
    (click,) = kinds["click"]
    assert click.ip == "198.51.100.9"  # forwarded by a trusted proxy
    assert (click.link_index, click.delivery_id) == (1, sent.delivery_id)
    assert kinds["unsubscribe"][0].channel == "one_click"
