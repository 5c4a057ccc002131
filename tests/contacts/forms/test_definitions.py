"""Signup form definitions through the API: CRUD, validation, permissions, the snippet."""

from __future__ import annotations

import uuid

import httpx
import pytest
from markupsafe import escape

from tests.conftest import Account, sign_up
from tests.contacts.forms.support import XSS, base, make_field, make_form, make_list


async def test_crud(client: httpx.AsyncClient, account: Account) -> None:
    news = await make_list(client, account)
    await make_field(client, account, "plan", "choice", choices=["free", "pro"])
    created = await make_form(
        client,
        account,
        news["id"],
        description="Monthly news.\n\nNo spam.",
        fields=[
            {"key": "first_name", "required": True},
            {"key": "plan", "label": "Your plan"},
        ],
        success_message="Welcome aboard!",
        redirect_url="https://shop.example.com/thanks?from=form",
    )
    assert created["enabled"] is True
    assert created["fields"] == [
        {"key": "first_name", "label": "", "required": True},
        {"key": "plan", "label": "Your plan", "required": False},
    ]
    assert created["hosted_url"].endswith(f"/f/{created['public_id']}")
    assert len(created["public_id"]) >= 16

    url = f"{base(account)}/forms/{created['id']}"
    got = await client.get(url, headers=account.headers)
    assert got.json() == created
    listed = await client.get(f"{base(account)}/forms", headers=account.headers)
    assert [f["id"] for f in listed.json()["items"]] == [created["id"]]

    patched = await client.patch(
        url,
        headers=account.headers,
        json={"title": "Stay in touch", "redirect_url": None, "enabled": False, "name": None},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["title"], body["redirect_url"], body["enabled"], body["name"]) == (
        "Stay in touch",
        None,
        False,
        "Footer form",
    )
    assert body["public_id"] == created["public_id"]

    assert (await client.delete(url, headers=account.headers)).status_code == 204
    assert (await client.get(url, headers=account.headers)).status_code == 404


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"redirect_url": "javascript:alert(1)"}, 422),
        ({"redirect_url": "ftp://files.example.com/"}, 422),
        ({"redirect_url": "//example.com/thanks"}, 422),
        ({"redirect_url": "https://user@example.com/"}, 422),
        ({"redirect_url": "https://exa mple.com/"}, 422),
        ({"redirect_url": "https://example.com;script-src */"}, 422),
        ({"fields": [{"key": "email"}]}, 422),
        ({"fields": [{"key": "first_name"}, {"key": "first_name"}]}, 422),
        ({"fields": [{"key": "no_such_field"}]}, 422),
        ({"fields": [{"key": "Bad Key"}]}, 422),
        ({"title": ""}, 422),
        ({"list_id": str(uuid.uuid4())}, 404),
    ],
)
async def test_refuses_bad_definitions(
    client: httpx.AsyncClient, account: Account, change: dict[str, object], status: int
) -> None:
    news = await make_list(client, account)
    body = {"list_id": news["id"], "name": "Form", "title": "Join", **change}
    response = await client.post(f"{base(account)}/forms", headers=account.headers, json=body)
    assert response.status_code == status, response.text


async def test_a_list_of_another_workspace_cannot_be_used(
    client: httpx.AsyncClient, account: Account
) -> None:
    stranger = await sign_up(client)
    theirs = await make_list(client, stranger)
    mine = await make_list(client, account)
    form = await make_form(client, account, mine["id"])
    created = await client.post(
        f"{base(account)}/forms",
        headers=account.headers,
        json={"list_id": theirs["id"], "name": "F", "title": "T"},
    )
    assert created.status_code == 404
    moved = await client.patch(
        f"{base(account)}/forms/{form['id']}",
        headers=account.headers,
        json={"list_id": theirs["id"]},
    )
    assert moved.status_code == 404
    # Nor can the stranger see or change this workspace's form.
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"{base(account)}/forms/{form['id']}",
            headers=stranger.headers,
            json={} if method == "PATCH" else None,
        )
        assert response.status_code == 404


async def test_reading_needs_contacts_read_and_writing_contacts_write(
    client: httpx.AsyncClient, account: Account
) -> None:
    news = await make_list(client, account)
    form = await make_form(client, account, news["id"])
    key = await client.post(
        f"{base(account)}/api-keys",
        headers=account.headers,
        json={"name": "reader", "permissions": ["contacts:read"]},
    )
    reader = {"Authorization": f"Bearer {key.json()['key']}"}
    url = f"{base(account)}/forms/{form['id']}"
    assert (await client.get(url, headers=reader)).status_code == 200
    assert (await client.get(f"{url}/snippet", headers=reader)).status_code == 200
    assert (await client.patch(url, headers=reader, json={"title": "x"})).status_code == 403
    assert (await client.delete(url, headers=reader)).status_code == 403
    created = await client.post(
        f"{base(account)}/forms",
        headers=reader,
        json={"list_id": news["id"], "name": "F", "title": "T"},
    )
    assert created.status_code == 403


async def test_snippet_posts_to_the_public_address_and_escapes_everything(
    client: httpx.AsyncClient, account: Account
) -> None:
    news = await make_list(client, account)
    await make_field(client, account, "tier", "choice", choices=[XSS, "gold"])
    form = await make_form(
        client,
        account,
        news["id"],
        title=XSS,
        fields=[{"key": "first_name", "label": XSS}, {"key": "tier", "label": "Tier"}],
    )
    response = await client.get(
        f"{base(account)}/forms/{form['id']}/snippet", headers=account.headers
    )
    assert response.status_code == 200
    snippet = response.json()
    assert snippet["url"] == form["hosted_url"]
    markup = snippet["html"]
    assert markup.startswith("<form")
    assert f'action="{form["hosted_url"]}"' in markup
    assert 'method="post"' in markup
    assert 'name="email"' in markup
    assert 'name="fields.tier"' in markup
    # The honeypot: hidden, out of the tab order, never autofilled.
    assert 'name="url"' in markup
    assert 'tabindex="-1"' in markup
    assert 'autocomplete="off"' in markup
    assert "<script>" not in markup
    assert "<img" not in markup
    assert str(escape(XSS)) in markup
