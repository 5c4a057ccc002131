"""Objects of the contacts domain for the cross-workspace suite."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Account


async def seed_audience(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    base = f"/api/v1/workspaces/{owner.workspace_id}"
    field = await client.post(
        f"{base}/fields",
        headers=owner.headers,
        json={"key": "plan", "label": "Plan", "type": "text"},
    )
    mailing_list = await client.post(
        f"{base}/lists", headers=owner.headers, json={"name": "Newsletter"}
    )
    contact = await client.post(
        f"{base}/contacts",
        headers=owner.headers,
        json={
            "email": f"seed-{uuid.uuid4().hex[:8]}@example.com",
            "list_ids": [mailing_list.json()["id"]],
        },
    )
    suppression = await client.post(
        f"{base}/suppressions",
        headers=owner.headers,
        json={"value": f"gone-{uuid.uuid4().hex[:6]}@example.com"},
    )
    for response in (field, mailing_list, contact, suppression):
        assert response.status_code == 201, response.text
    return {
        "field_id": uuid.UUID(field.json()["id"]),
        "list_id": uuid.UUID(mailing_list.json()["id"]),
        "contact_id": uuid.UUID(contact.json()["id"]),
        "suppression_id": uuid.UUID(suppression.json()["id"]),
    }


SEEDERS = [seed_audience]
