"""Signup forms for the cross-workspace suite. Their public pages (/f/…, /confirm/…)
live outside /api/v1 and the OpenAPI document, so no route is added to PUBLIC_ROUTES."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Account


async def seed_forms(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    base = f"/api/v1/workspaces/{owner.workspace_id}"
    mailing_list = await client.post(
        f"{base}/lists", headers=owner.headers, json={"name": "Form list", "opt_in": "double"}
    )
    assert mailing_list.status_code == 201, mailing_list.text
    form = await client.post(
        f"{base}/forms",
        headers=owner.headers,
        json={
            "list_id": mailing_list.json()["id"],
            "name": "Seed form",
            "title": "Join us",
            "fields": [{"key": "first_name"}],
        },
    )
    assert form.status_code == 201, form.text
    return {"form_id": uuid.UUID(form.json()["id"])}


SEEDERS = [seed_forms]
PUBLIC_ROUTES: set[tuple[str, str]] = set()
