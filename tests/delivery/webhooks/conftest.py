"""An API with every provider webhook configured, a fake SNS, and the providers' keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.api.app import create_app, state_from
from maily.config import Settings
from tests.conftest import make_settings
from tests.delivery.bounces.conftest import other_world
from tests.delivery.certificates import make_certificate
from tests.delivery.webhooks.fake_sns import FakeSNS
from tests.delivery.webhooks.signing import TOPIC_ARN, rsa_certificate, sendgrid_keys

__all__ = ["Hooks", "hooks", "other_world"]

MAILGUN_KEY = "mailgun-signing-key-0123456789abcdef"
POSTMARK_USER, POSTMARK_PASSWORD = "postmark", "a long postmark webhook password"


@dataclass
class Hooks:
    client: httpx.AsyncClient
    settings: Settings
    redis: Redis
    sns: FakeSNS
    sns_key: rsa.RSAPrivateKey
    sendgrid_key: ec.EllipticCurvePrivateKey
    app: Any

    async def events(self) -> list[dict[bytes, bytes]]:
        entries = await self.redis.xrange(self.settings.analytics.stream_key)
        return [fields for _, fields in entries]


@pytest.fixture
async def hooks(
    database_url: str, redis_url: str, engine: AsyncEngine, redis: Redis, tmp_path: Path
) -> AsyncIterator[Hooks]:
    tls = make_certificate(tmp_path)
    sns_key, sns_pem = rsa_certificate()
    sendgrid_private, sendgrid_public = sendgrid_keys()
    settings = make_settings(
        database_url,
        redis_url,
        ses={
            "sns_topic_arns": [TOPIC_ARN],
            "sns_certificate_host_pattern": r"127\.0\.0\.1",
            "sns_certificate_ca_file": str(tls.cert_file),
        },
        postmark={"webhook_username": POSTMARK_USER, "webhook_password": POSTMARK_PASSWORD},
        sendgrid={"webhook_public_key": sendgrid_public},
        mailgun={"webhook_signing_key": MAILGUN_KEY},
    )
    state = state_from(settings, engine, redis)
    app = create_app(settings, state=state)
    async with FakeSNS(sns_pem, tls.server_context()) as sns:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Hooks(client, settings, redis, sns, sns_key, sendgrid_private, app)
        receiver = getattr(app.state, "bounce_webhooks", None)
        if receiver is not None:
            await receiver.aclose()
    await state.storage.aclose()
