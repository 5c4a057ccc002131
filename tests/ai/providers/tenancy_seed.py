"""An AI provider for the generated cross-workspace suite (tests/api/test_tenancy.py)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Account

# A public address: never contacted here (the suite makes no test call as the owner).
PUBLIC_BASE_URL = "https://93.184.215.14/v1"


async def seed_ai_provider(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    created = await client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/ai/providers",
        headers=owner.headers,
        json={
            "name": "Seeded",
            "kind": "openai",
            "base_url": PUBLIC_BASE_URL,
            "model": "gpt-4o-mini",
            "api_key": "sk-seeded-key-0000",
        },
    )
    assert created.status_code == 201, created.text
    return {"ai_provider_id": uuid.UUID(created.json()["id"])}


SEEDERS = [seed_ai_provider]
