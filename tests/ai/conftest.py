"""Fixtures of the AI tests: fake model APIs on loopback (see tests/ai/fakes.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ai.fakes import FakeAnthropic, FakeOpenAI

FAKE_OPENAI_KEY = "sk-fake-openai-key"
FAKE_ANTHROPIC_KEY = "sk-ant-fake-key"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """An OpenAI-compatible server accepting only FAKE_OPENAI_KEY; base_url ends in /v1."""
    with FakeOpenAI(api_key=FAKE_OPENAI_KEY) as fake:
        yield fake


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """An Anthropic-compatible server accepting only FAKE_ANTHROPIC_KEY."""
    with FakeAnthropic(api_key=FAKE_ANTHROPIC_KEY) as fake:
        yield fake
