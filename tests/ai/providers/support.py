"""Helpers of the provider tests: workspaces and providers made directly in the database."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from maily.kit.db import AsyncSession
from maily.models import AIProvider, Workspace
from tests.ai.conftest import FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY
from tests.ai.fakes import FakeAnthropic, FakeOpenAI


async def new_workspace(session: AsyncSession) -> uuid.UUID:
    workspace = Workspace(name="AI", slug=f"ai-{uuid.uuid4().hex[:12]}")
    session.add(workspace)
    await session.flush()
    return workspace.id


async def add_provider(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    fake: FakeOpenAI | FakeAnthropic | None = None,
    **fields: Any,
) -> AIProvider:
    kind = fields.pop("kind", "anthropic" if isinstance(fake, FakeAnthropic) else "openai")
    key = FAKE_ANTHROPIC_KEY if kind == "anthropic" else FAKE_OPENAI_KEY
    values: dict[str, Any] = {
        "name": f"{kind}-{uuid.uuid4().hex[:6]}",
        "kind": kind,
        "base_url": fake.base_url if fake is not None else "",
        "model": "fake-claude" if kind == "anthropic" else "fake-gpt",
        "api_key": key,
        "api_key_hint": key[-4:],
        "priority": 100,
        "enabled": True,
        "input_price_per_mtok": Decimal("2.5"),
        "output_price_per_mtok": Decimal("10"),
        "timeout_seconds": 10.0,
        **fields,
    }
    provider = AIProvider(workspace_id=workspace_id, **values)
    session.add(provider)
    await session.flush()
    return provider
