"""Helpers for the signup form tests: lists, fields and forms made through the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Account

# Markup in every text a workspace or a visitor controls; it must come out escaped.
XSS = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>"


def base(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}"


async def make_list(
    client: httpx.AsyncClient, account: Account, opt_in: str = "single", **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{base(account)}/lists",
        headers=account.headers,
        json={"name": f"List {uuid.uuid4().hex[:6]}", "opt_in": opt_in, **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def make_field(
    client: httpx.AsyncClient, account: Account, key: str, type_: str = "text", **extra: Any
) -> None:
    response = await client.post(
        f"{base(account)}/fields",
        headers=account.headers,
        json={"key": key, "label": key.title(), "type": type_, **extra},
    )
    assert response.status_code == 201, response.text


async def make_form(
    client: httpx.AsyncClient, account: Account, list_id: str, **extra: Any
) -> dict[str, Any]:
    body = {"list_id": list_id, "name": "Footer form", "title": "Join our newsletter", **extra}
    response = await client.post(f"{base(account)}/forms", headers=account.headers, json=body)
    assert response.status_code == 201, response.text
    form: dict[str, Any] = response.json()
    return form
