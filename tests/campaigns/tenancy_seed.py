"""A campaign for the generated cross-workspace suite (tests/api/test_tenancy.py)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Account


async def seed_campaign(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    created = await client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/campaigns",
        headers=owner.headers,
        json={"name": "Seeded", "subject": "Hello"},
    )
    assert created.status_code == 201, created.text
    return {"campaign_id": uuid.UUID(created.json()["id"])}


SEEDERS = [seed_campaign]
