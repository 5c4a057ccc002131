"""Webhook endpoints through the API: the secret shown once and stored encrypted, URLs
refused with a message, permissions, and another workspace seeing nothing."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text

from maily.kit.db import AsyncSession
from maily.models import WebhookDelivery
from tests.conftest import Account, sign_up
from tests.webhooks.tenancy_seed import PUBLIC_URL


def base(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}/webhooks"


async def create(client: httpx.AsyncClient, account: Account, **body: object) -> httpx.Response:
    payload = {"url": PUBLIC_URL, "event_types": ["email.opened", "email.clicked"], **body}
    return await client.post(base(account), headers=account.headers, json=payload)


async def api_key(client: httpx.AsyncClient, account: Account, *permissions: str) -> dict[str, str]:
    response = await client.post(
        f"/api/v1/workspaces/{account.workspace_id}/api-keys",
        headers=account.headers,
        json={"name": "narrow", "permissions": list(permissions)},
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


async def test_the_secret_is_shown_once_and_stored_encrypted(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    created = await create(client, account, description="CRM sync")
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert body["event_types"] == ["email.clicked", "email.opened"]
    assert body["enabled"] is True

    again = await client.get(f"{base(account)}/{body['id']}", headers=account.headers)
    assert again.status_code == 200
    assert "secret" not in again.json()
    listed = await client.get(base(account), headers=account.headers)
    assert [w["id"] for w in listed.json()["items"]] == [body["id"]]
    assert "secret" not in listed.json()["items"][0]

    stored = (
        await session.execute(
            text("SELECT secret FROM webhook_endpoints WHERE id = :id"), {"id": body["id"]}
        )
    ).scalar_one()
    assert secret not in stored
    assert stored.startswith("gAAAA")

    rotated = await client.post(
        f"{base(account)}/{body['id']}/rotate-secret", headers=account.headers
    )
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (secret, "")


async def test_refused_urls_get_422_with_the_reason(
    client: httpx.AsyncClient, account: Account
) -> None:
    for url, reason in [
        ("http://93.184.215.14/hook", "https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://[::ffff:169.254.169.254]/x", "link-local"),
        ("https://2130706433/", "unusual form"),
        ("https://localhost:8443/hook", "loopback"),
        ("https://nowhere.invalid/hook", "does not resolve"),
    ]:
        response = await create(client, account, url=url)
        assert response.status_code == 422, (url, response.text)
        error = response.json()["error"]
        assert reason in error["message"], (url, error)
        assert error["details"][0]["loc"] == ["body", "url"]
    # Nothing was saved, and an update to a refused URL is refused the same way.
    assert (await client.get(base(account), headers=account.headers)).json()["items"] == []
    webhook = (await create(client, account)).json()
    changed = await client.patch(
        f"{base(account)}/{webhook['id']}",
        headers=account.headers,
        json={"url": "https://10.0.0.8/internal"},
    )
    assert changed.status_code == 422
    assert "private" in changed.json()["error"]["message"]
    unchanged = await client.get(f"{base(account)}/{webhook['id']}", headers=account.headers)
    assert unchanged.json()["url"] == PUBLIC_URL


async def test_unknown_event_types_are_refused(client: httpx.AsyncClient, account: Account) -> None:
    response = await create(client, account, event_types=["email.teleported"])
    assert response.status_code == 422
    catalogue = await client.get(
        f"/api/v1/workspaces/{account.workspace_id}/webhook-event-types", headers=account.headers
    )
    assert "campaign.state_changed" in {e["type"] for e in catalogue.json()}


async def test_update_disable_enable_and_delete(
    client: httpx.AsyncClient, account: Account
) -> None:
    webhook = (await create(client, account)).json()
    one = f"{base(account)}/{webhook['id']}"
    off = await client.patch(one, headers=account.headers, json={"enabled": False})
    assert off.json()["enabled"] is False
    assert off.json()["disabled_reason"]
    refused_ping = await client.post(f"{one}/ping", headers=account.headers)
    assert refused_ping.status_code == 409
    on = await client.patch(
        one, headers=account.headers, json={"enabled": True, "event_types": ["email.bounced"]}
    )
    assert on.json()["enabled"] is True
    assert on.json()["disabled_reason"] is None
    assert on.json()["event_types"] == ["email.bounced"]
    assert (await client.delete(one, headers=account.headers)).status_code == 204
    assert (await client.get(one, headers=account.headers)).status_code == 404


async def test_ping_makes_a_pending_delivery_in_the_log(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    webhook = (await create(client, account)).json()
    ping = await client.post(f"{base(account)}/{webhook['id']}/ping", headers=account.headers)
    assert ping.status_code == 202
    assert ping.json()["event_type"] == "webhook.ping"
    log = await client.get(f"{base(account)}/{webhook['id']}/deliveries", headers=account.headers)
    assert [d["id"] for d in log.json()["items"]] == [ping.json()["id"]]
    assert log.json()["items"][0]["status"] == "pending"
    row = await session.get(WebhookDelivery, (account.workspace_id, uuid.UUID(ping.json()["id"])))
    assert row is not None
    assert row.payload["data"] == {"webhook_id": webhook["id"]}


async def test_permissions_decide_who_reads_and_who_changes(
    client: httpx.AsyncClient, account: Account
) -> None:
    webhook = (await create(client, account)).json()
    reader = await api_key(client, account, "sending:read")
    assert (await client.get(base(account), headers=reader)).status_code == 200
    log = f"{base(account)}/{webhook['id']}/deliveries"
    assert (await client.get(log, headers=reader)).status_code == 200
    made = await client.post(
        base(account), headers=reader, json={"url": PUBLIC_URL, "event_types": ["email.opened"]}
    )
    assert made.status_code == 403
    assert "sending:write" in made.json()["error"]["message"]
    outsider = await api_key(client, account, "reports:read")
    assert (await client.get(base(account), headers=outsider)).status_code == 403


async def test_workspace_b_cannot_list_change_or_read_the_log_of_a(
    client: httpx.AsyncClient, account: Account
) -> None:
    webhook = (await create(client, account)).json()
    ping = (
        await client.post(f"{base(account)}/{webhook['id']}/ping", headers=account.headers)
    ).json()
    other = await sign_up(client)
    own = f"/api/v1/workspaces/{other.workspace_id}/webhooks"
    # B's own list is empty; A's webhook is not found through B's workspace either.
    assert (await client.get(own, headers=other.headers)).json()["items"] == []
    for method, path, body in [
        ("GET", f"{own}/{webhook['id']}", None),
        ("PATCH", f"{own}/{webhook['id']}", {"enabled": False}),
        ("DELETE", f"{own}/{webhook['id']}", None),
        ("POST", f"{own}/{webhook['id']}/ping", None),
        ("POST", f"{own}/{webhook['id']}/rotate-secret", None),
        ("GET", f"{own}/{webhook['id']}/deliveries", None),
        ("GET", f"{own}/{webhook['id']}/deliveries/{ping['id']}", None),
        ("GET", f"{base(account)}", None),
        ("GET", f"{base(account)}/{webhook['id']}/deliveries", None),
        ("PATCH", f"{base(account)}/{webhook['id']}", {"url": "https://93.184.215.15/"}),
    ]:
        response = await client.request(method, path, headers=other.headers, json=body)
        assert response.status_code == 404, (method, path, response.status_code)
    still = await client.get(f"{base(account)}/{webhook['id']}", headers=account.headers)
    assert still.json()["enabled"] is True
    assert still.json()["url"] == PUBLIC_URL
