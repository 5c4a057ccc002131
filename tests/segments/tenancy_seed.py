"""Seeds a saved segment for the generated tenancy suite (tests/api/test_tenancy.py)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Account


async def seed_segment(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    created = await client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/segments",
        headers=owner.headers,
        json={
            "name": "Subscribed",
            "rules": {"all": [{"field": "status", "op": "eq", "value": "subscribed"}]},
        },
    )
    assert created.status_code == 201, created.text
    return {"segment_id": uuid.UUID(created.json()["id"])}


SEEDERS = [seed_segment]
