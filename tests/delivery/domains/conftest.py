"""Fixtures for sending domains: a real DNS server on loopback, and an app whose
resolver asks it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.api.app import state_from
from maily.api.state import AppState
from maily.config import DeliverySettings, Settings
from tests.delivery.domains.dns_server import LocalDnsServer

MX_HOST = "mx.maily.test"
SPF_INCLUDE = "include:spf.maily.test"


@pytest.fixture(scope="session")
async def dns_server() -> AsyncIterator[LocalDnsServer]:
    server = LocalDnsServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def dns(dns_server: LocalDnsServer) -> Iterator[LocalDnsServer]:
    dns_server.reset()
    yield dns_server
    dns_server.reset()


def delivery_settings(server: LocalDnsServer, **overrides: object) -> DeliverySettings:
    values: dict[str, object] = {
        "dns_nameservers": ["127.0.0.1"],
        "dns_port": server.port,
        "dns_timeout_seconds": 10.0,
        "return_path_mx_host": MX_HOST,
        "spf_mechanisms": [SPF_INCLUDE],
        "dmarc_report_address": "dmarc@maily.test",
    }
    values.update(overrides)
    return DeliverySettings.model_validate(values)


@pytest.fixture
def delivery(dns_server: LocalDnsServer) -> DeliverySettings:
    """The delivery settings of the app under test; a test may replace it first."""
    return delivery_settings(dns_server)


@pytest.fixture
async def app_state(
    settings: Settings, engine: AsyncEngine, redis: Redis, delivery: DeliverySettings
) -> AsyncIterator[AppState]:
    state = state_from(settings.model_copy(update={"delivery": delivery}), engine, redis)
    yield state
    await state.storage.aclose()
