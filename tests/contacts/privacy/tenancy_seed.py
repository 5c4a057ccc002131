"""A contact for the cross-workspace suite's GDPR routes."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Account


async def seed_person(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    contact = await client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/contacts",
        headers=owner.headers,
        json={"email": f"person-{uuid.uuid4().hex[:8]}@example.com"},
    )
    assert contact.status_code == 201, contact.text
    return {"contact_id": uuid.UUID(contact.json()["id"])}


SEEDERS = [seed_person]
