"""Contacts: CRUD, search, lists, bulk actions and suppression."""

from __future__ import annotations

import httpx

from tests.conftest import Account


def base(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}"


async def add(
    client: httpx.AsyncClient, account: Account, email: str, **extra: object
) -> dict[str, object]:
    response = await client.post(
        f"{base(account)}/contacts", headers=account.headers, json={"email": email, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_create_normalises_and_refuses_duplicates(
    client: httpx.AsyncClient, account: Account
) -> None:
    created = await add(
        client, account, "  Ann@Example.COM ", first_name="Ann", tags=["vip", "vip"]
    )
    assert created["email"] == "ann@example.com"
    assert created["tags"] == ["vip"]
    assert created["status"] == "subscribed"
    assert created["suppressed"] is False
    again = await client.post(
        f"{base(account)}/contacts", headers=account.headers, json={"email": "ANN@example.com"}
    )
    assert again.status_code == 409
    invalid = await client.post(
        f"{base(account)}/contacts", headers=account.headers, json={"email": "nope@"}
    )
    assert invalid.status_code == 422


async def test_update_and_delete(client: httpx.AsyncClient, account: Account) -> None:
    contact = await add(client, account, "bo@example.com")
    url = f"{base(account)}/contacts/{contact['id']}"
    patched = await client.patch(
        url,
        headers=account.headers,
        json={"first_name": "Bo", "timezone": "Europe/Berlin", "tags": ["a"]},
    )
    assert patched.status_code == 200
    assert (patched.json()["first_name"], patched.json()["timezone"], patched.json()["tags"]) == (
        "Bo",
        "Europe/Berlin",
        ["a"],
    )
    other = await add(client, account, "other@example.com")
    clash = await client.patch(url, headers=account.headers, json={"email": other["email"]})
    assert clash.status_code == 409
    moved = await client.patch(url, headers=account.headers, json={"email": "Bo.New@Example.com"})
    assert moved.json()["email"] == "bo.new@example.com"
    assert (await client.delete(url, headers=account.headers)).status_code == 204
    assert (await client.get(url, headers=account.headers)).status_code == 404


async def test_an_unknown_time_zone_or_a_malformed_locale_is_refused_in_words(
    client: httpx.AsyncClient, account: Account
) -> None:
    refused = await client.post(
        f"{base(account)}/contacts",
        headers=account.headers,
        json={"email": "tz@example.com", "timezone": "Mars/Olympus_Mons"},
    )
    assert refused.status_code == 422
    assert "not an IANA time zone name" in refused.text
    assert "Mars/Olympus_Mons" in refused.text
    contact = await add(client, account, "tz@example.com", timezone=" America/New_York ")
    assert contact["timezone"] == "America/New_York"
    url = f"{base(account)}/contacts/{contact['id']}"
    bad_locale = await client.patch(url, headers=account.headers, json={"locale": "english!"})
    assert bad_locale.status_code == 422
    assert "is not a locale" in bad_locale.text
    bad_zone = await client.patch(url, headers=account.headers, json={"timezone": "Nowhere"})
    assert bad_zone.status_code == 422
    # Nothing was changed by the refused updates.
    kept = (await client.get(url, headers=account.headers)).json()
    assert (kept["timezone"], kept["locale"]) == ("America/New_York", None)
    patched = await client.patch(url, headers=account.headers, json={"locale": "pt-BR"})
    assert patched.json()["locale"] == "pt-BR"


async def test_search(client: httpx.AsyncClient, account: Account) -> None:
    h = account.headers
    await client.post(
        f"{base(account)}/fields", headers=h, json={"key": "city", "label": "City", "type": "text"}
    )
    await add(
        client,
        account,
        "anna@example.com",
        first_name="Anna",
        last_name="Berg",
        tags=["vip"],
        fields={"city": "Oslo"},
    )
    await add(client, account, "andy@example.org", first_name="Andy", tags=["trial"])
    await add(client, account, "zoe_x@example.net", first_name="Zoë", last_name="Lindqvist")

    async def emails(query: str) -> list[str]:
        response = await client.get(f"{base(account)}/contacts?{query}", headers=h)
        assert response.status_code == 200, response.text
        return sorted(c["email"] for c in response.json()["items"])

    assert await emails("q=an") == ["andy@example.org", "anna@example.com"]
    assert await emails("q=lindq") == ["zoe_x@example.net"]
    assert await emails("q=zoe_") == ["zoe_x@example.net"]
    assert await emails("q=%25") == []  # wildcards are literal
    assert await emails("tag=vip") == ["anna@example.com"]
    assert await emails("field=city&value=Oslo") == ["anna@example.com"]
    assert await emails("status=unsubscribed") == []
    page = await client.get(f"{base(account)}/contacts?limit=2", headers=h)
    assert len(page.json()["items"]) == 2
    rest = await client.get(
        f"{base(account)}/contacts?limit=2&cursor={page.json()['next_cursor']}", headers=h
    )
    assert len(rest.json()["items"]) == 1


async def test_lists_and_memberships(client: httpx.AsyncClient, account: Account) -> None:
    h = account.headers
    news = (await client.post(f"{base(account)}/lists", headers=h, json={"name": "News"})).json()
    contact = await add(client, account, "cy@example.com", list_ids=[news["id"]])
    assert contact["lists"][0]["status"] == "subscribed"
    consents = await client.get(f"{base(account)}/contacts/{contact['id']}/consents", headers=h)
    assert [(c["action"], c["source"]) for c in consents.json()["items"]] == [("subscribe", "api")]
    listed = await client.get(f"{base(account)}/lists/{news['id']}", headers=h)
    assert listed.json()["subscribed"] == 1
    missing = await client.post(
        f"{base(account)}/contacts",
        headers=h,
        json={"email": "dee@example.com", "list_ids": ["00000000-0000-7000-8000-000000000000"]},
    )
    assert missing.status_code == 404
    renamed = await client.patch(
        f"{base(account)}/lists/{news['id']}", headers=h, json={"opt_in": "double"}
    )
    assert renamed.json()["opt_in"] == "double"
    assert (
        await client.delete(f"{base(account)}/lists/{news['id']}", headers=h)
    ).status_code == 204
    after = await client.get(f"{base(account)}/contacts/{contact['id']}", headers=h)
    assert after.json()["lists"] == []


async def test_bulk_actions(client: httpx.AsyncClient, account: Account) -> None:
    h = account.headers
    ids = [str((await add(client, account, f"bulk{i}@example.com"))["id"]) for i in range(3)]
    news = (await client.post(f"{base(account)}/lists", headers=h, json={"name": "News"})).json()

    async def bulk(payload: dict[str, object]) -> int:
        response = await client.post(f"{base(account)}/contacts/bulk", headers=h, json=payload)
        assert response.status_code == 200, response.text
        affected: int = response.json()["affected"]
        return affected

    assert await bulk({"action": "tag", "tag": "q4", "selection": {"contact_ids": ids[:2]}}) == 2
    assert await bulk({"action": "tag", "tag": "q4", "selection": {"contact_ids": ids}}) == 1
    assert await bulk({"action": "untag", "tag": "q4", "selection": {"all": True}}) == 3
    assert (
        await bulk({"action": "add_to_list", "list_id": news["id"], "selection": {"all": True}})
        == 3
    )
    assert (
        await bulk({"action": "add_to_list", "list_id": news["id"], "selection": {"all": True}})
        == 0
    )
    assert (
        await bulk(
            {
                "action": "remove_from_list",
                "list_id": news["id"],
                "selection": {"contact_ids": ids[:1]},
            }
        )
        == 1
    )
    assert await bulk({"action": "unsubscribe", "selection": {"contact_ids": ids[1:2]}}) == 1
    second = await client.get(f"{base(account)}/contacts/{ids[1]}", headers=h)
    assert second.json()["status"] == "unsubscribed"
    consents = await client.get(f"{base(account)}/contacts/{ids[0]}/consents", headers=h)
    assert [(c["action"], c["channel"]) for c in consents.json()["items"]] == [
        ("subscribe", None),
        ("unsubscribe", "admin"),
    ]
    assert await bulk({"action": "delete", "selection": {"contact_ids": ids[2:]}}) == 1
    bad = await client.post(
        f"{base(account)}/contacts/bulk",
        headers=h,
        json={"action": "tag", "selection": {"all": True}},
    )
    assert bad.status_code == 422


async def test_suppression(client: httpx.AsyncClient, account: Account) -> None:
    h = account.headers
    contact = await add(client, account, "blocked@example.com")
    news = (await client.post(f"{base(account)}/lists", headers=h, json={"name": "News"})).json()
    entry = await client.post(
        f"{base(account)}/suppressions", headers=h, json={"value": "Blocked@Example.com"}
    )
    assert entry.status_code == 201
    assert entry.json()["value"] == "blocked@example.com"
    again = await client.post(
        f"{base(account)}/suppressions", headers=h, json={"value": "blocked@example.com"}
    )
    assert again.status_code == 409
    detail = await client.get(f"{base(account)}/contacts/{contact['id']}", headers=h)
    assert detail.json()["suppressed"] is True
    added = await client.post(
        f"{base(account)}/contacts/bulk",
        headers=h,
        json={"action": "add_to_list", "list_id": news["id"], "selection": {"all": True}},
    )
    assert added.json()["affected"] == 0  # a suppressed address is never subscribed

    domain = await client.post(
        f"{base(account)}/suppressions",
        headers=h,
        json={"kind": "domain", "value": "spamtrap.example"},
    )
    assert domain.status_code == 201
    trapped = await add(client, account, "anyone@spamtrap.example")
    assert trapped["suppressed"] is True

    lifted = await client.delete(f"{base(account)}/suppressions/{entry.json()['id']}", headers=h)
    assert lifted.status_code == 204
    detail = await client.get(f"{base(account)}/contacts/{contact['id']}", headers=h)
    assert detail.json()["suppressed"] is False
