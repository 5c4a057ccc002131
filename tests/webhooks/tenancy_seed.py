"""A webhook and one delivery of it for the generated cross-workspace suite
(tests/api/test_tenancy.py)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Account

# A public address: never contacted here (no worker runs the ping).
PUBLIC_URL = "https://93.184.215.14/maily-hooks"


async def seed_webhook(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    base = f"/api/v1/workspaces/{owner.workspace_id}/webhooks"
    created = await client.post(
        base, headers=owner.headers, json={"url": PUBLIC_URL, "event_types": ["email.opened"]}
    )
    assert created.status_code == 201, created.text
    webhook_id = created.json()["id"]
    ping = await client.post(f"{base}/{webhook_id}/ping", headers=owner.headers)
    assert ping.status_code == 202, ping.text
    return {
        "webhook_id": uuid.UUID(webhook_id),
        "webhook_delivery_id": uuid.UUID(ping.json()["id"]),
    }


SEEDERS = [seed_webhook]
