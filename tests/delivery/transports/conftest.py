"""Fixtures for transport tests: the fake provider APIs, and a port nothing listens on."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.delivery.fake_providers import FakeProviders, running_fake_providers


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviders]:
    with running_fake_providers() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeProviders) -> Iterator[FakeProviders]:
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def closed_url() -> str:
    """A loopback URL whose port refuses connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
