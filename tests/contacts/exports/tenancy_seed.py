"""A completed export for the cross-workspace suite (its download must answer 200)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Account
from tests.contacts.exports.support import recording_queue, run_jobs_through_app


async def seed_export(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    base = f"/api/v1/workspaces/{owner.workspace_id}"
    async with recording_queue() as queue:
        contact = await client.post(
            f"{base}/contacts",
            headers=owner.headers,
            json={"email": f"export-{uuid.uuid4().hex[:8]}@example.com"},
        )
        assert contact.status_code == 201, contact.text
        export = await client.post(f"{base}/exports", headers=owner.headers, json={})
        assert export.status_code == 202, export.text
        await run_jobs_through_app(client, queue)
    return {"export_id": uuid.UUID(export.json()["id"])}


SEEDERS = [seed_export]
