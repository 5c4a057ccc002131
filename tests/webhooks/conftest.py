"""Fixtures of the webhook tests: endpoint secrets are encrypted with the test keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from maily.config import Settings
from maily.kit.crypto import SecretBox, configure_secret_box


@pytest.fixture(autouse=True)
def secret_box(settings: Settings) -> Iterator[None]:
    previous = configure_secret_box(SecretBox.from_settings(settings))
    yield
    configure_secret_box(previous)
