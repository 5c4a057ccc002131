"""Seeds a sending domain and a sender for the generated tenancy suite (tests/api/test_tenancy.py)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Account


async def seed_sending_identity(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    base = f"/api/v1/workspaces/{owner.workspace_id}"
    domain = await client.post(
        f"{base}/sending-domains",
        headers=owner.headers,
        # Ed25519: generating an RSA key per tenant would only slow the suite down.
        json={"domain": "news.example.com", "dkim_algorithm": "ed25519-sha256"},
    )
    assert domain.status_code == 201, domain.text
    sender = await client.post(
        f"{base}/senders",
        headers=owner.headers,
        json={"from_name": "News", "from_email": "hello@news.example.com"},
    )
    assert sender.status_code == 201, sender.text
    return {
        "sending_domain_id": uuid.UUID(domain.json()["id"]),
        "sender_id": uuid.UUID(sender.json()["id"]),
    }


SEEDERS = [seed_sending_identity]
