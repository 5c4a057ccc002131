"""Workspaces, roles, invitations and API keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import Account, sign_up


def ws(account: Account, suffix: str = "") -> str:
    return f"/api/v1/workspaces/{account.workspace_id}{suffix}"


async def invite(
    client: httpx.AsyncClient, inviter: Account, email: str, role: str
) -> httpx.Response:
    return await client.post(
        ws(inviter, "/invitations"), headers=inviter.headers, json={"email": email, "role": role}
    )


async def join(client: httpx.AsyncClient, owner: Account, role: str) -> Account:
    """A second user who accepts an invitation to owner's workspace with `role`."""
    member = await sign_up(client)
    created = await invite(client, owner, member.email, role)
    assert created.status_code == 201, created.text
    token = created.json()["accept_url"].split("token=")[1]
    accepted = await client.post(
        "/api/v1/invitations/accept", headers=member.headers, json={"token": token}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["workspace"]["role"] == role
    member.workspace_id = owner.workspace_id
    return member


async def test_workspace_crud(client: httpx.AsyncClient, account: Account) -> None:
    created = await client.post(
        "/api/v1/workspaces", headers=account.headers, json={"name": "Second Shop"}
    )
    assert created.status_code == 201
    assert created.json()["slug"].startswith("second-shop")
    workspace_id = created.json()["id"]
    listed = await client.get("/api/v1/workspaces", headers=account.headers)
    assert {w["id"] for w in listed.json()} == {str(account.workspace_id), workspace_id}

    patched = await client.patch(
        f"/api/v1/workspaces/{workspace_id}",
        headers=account.headers,
        json={"postal_address": "1 Main St, Springfield"},
    )
    assert patched.json()["postal_address"] == "1 Main St, Springfield"
    deleted = await client.delete(f"/api/v1/workspaces/{workspace_id}", headers=account.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/workspaces/{workspace_id}", headers=account.headers)
    assert gone.status_code == 404


async def test_taken_slug_is_a_conflict(client: httpx.AsyncClient, account: Account) -> None:
    first = await client.post(
        "/api/v1/workspaces", headers=account.headers, json={"name": "A", "slug": "taken"}
    )
    assert first.status_code == 201
    second = await client.post(
        "/api/v1/workspaces", headers=account.headers, json={"name": "B", "slug": "taken"}
    )
    assert second.status_code == 409


async def test_invitation_for_a_new_person_creates_the_account(
    client: httpx.AsyncClient, account: Account
) -> None:
    created = await invite(client, account, "newcomer@example.com", "analyst")
    assert created.status_code == 201
    token = created.json()["accept_url"].split("token=")[1]
    pending = await client.get(ws(account, "/invitations"), headers=account.headers)
    assert [i["email"] for i in pending.json()["items"]] == ["newcomer@example.com"]

    no_password = await client.post("/api/v1/invitations/accept", json={"token": token})
    assert no_password.status_code == 400
    accepted = await client.post(
        "/api/v1/invitations/accept",
        json={"token": token, "password": "newcomer password", "name": "New"},
    )
    assert accepted.status_code == 200
    tokens = accepted.json()["tokens"]
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get(ws(account), headers=headers)).status_code == 200
    # An invitation works once.
    again = await client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": "newcomer password"}
    )
    assert again.status_code == 404


async def test_invitation_is_bound_to_its_address(
    client: httpx.AsyncClient, account: Account
) -> None:
    stranger = await sign_up(client)
    created = await invite(client, account, "someone-else@example.com", "viewer")
    token = created.json()["accept_url"].split("token=")[1]
    response = await client.post(
        "/api/v1/invitations/accept", headers=stranger.headers, json={"token": token}
    )
    assert response.status_code == 403


async def test_roles_limit_what_members_do(client: httpx.AsyncClient, account: Account) -> None:
    viewer = await join(client, account, "viewer")
    editor = await join(client, account, "editor")

    assert (await client.get(ws(viewer), headers=viewer.headers)).status_code == 200
    denied = await client.patch(ws(viewer), headers=viewer.headers, json={"name": "Mine now"})
    assert denied.status_code == 403
    assert "workspace:write" in denied.json()["error"]["message"]
    assert (await client.get(ws(viewer, "/api-keys"), headers=viewer.headers)).status_code == 403
    assert (await invite(client, editor, "x@example.com", "viewer")).status_code == 403
    assert (await client.delete(ws(editor), headers=editor.headers)).status_code == 403


async def test_nobody_grants_more_than_they_hold(
    client: httpx.AsyncClient, account: Account
) -> None:
    admin = await join(client, account, "admin")
    assert (await invite(client, admin, "boss@example.com", "owner")).status_code == 403
    assert (await invite(client, admin, "helper@example.com", "admin")).status_code == 201
    promote = await client.patch(
        ws(admin, f"/members/{admin.user_id}"), headers=admin.headers, json={"role": "owner"}
    )
    assert promote.status_code == 403
    demote_owner = await client.patch(
        ws(admin, f"/members/{account.user_id}"), headers=admin.headers, json={"role": "viewer"}
    )
    assert demote_owner.status_code == 403


async def test_last_owner_stays(client: httpx.AsyncClient, account: Account) -> None:
    demote = await client.patch(
        ws(account, f"/members/{account.user_id}"), headers=account.headers, json={"role": "admin"}
    )
    assert demote.status_code == 409
    remove = await client.delete(
        ws(account, f"/members/{account.user_id}"), headers=account.headers
    )
    assert remove.status_code == 409


async def test_members_list_and_removal(client: httpx.AsyncClient, account: Account) -> None:
    member = await join(client, account, "editor")
    listed = await client.get(ws(account, "/members"), headers=account.headers)
    assert {m["email"]: m["role"] for m in listed.json()["items"]} == {
        account.email: "owner",
        member.email: "editor",
    }
    page = await client.get(ws(account, "/members?limit=1"), headers=account.headers)
    assert len(page.json()["items"]) == 1
    assert page.json()["next_cursor"]
    rest = await client.get(
        ws(account, f"/members?limit=1&cursor={page.json()['next_cursor']}"),
        headers=account.headers,
    )
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None
    assert rest.json()["items"][0] != page.json()["items"][0]

    removed = await client.delete(
        ws(account, f"/members/{member.user_id}"), headers=account.headers
    )
    assert removed.status_code == 204
    assert (await client.get(ws(account), headers=member.headers)).status_code == 404


async def test_bad_cursor_is_a_clear_error(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.get(ws(account, "/members?cursor=!!!"), headers=account.headers)
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["message"]


async def test_api_key_lifecycle(client: httpx.AsyncClient, account: Account) -> None:
    created = await client.post(
        ws(account, "/api-keys"),
        headers=account.headers,
        json={"name": "CRM sync", "permissions": ["workspace:read"]},
    )
    assert created.status_code == 201
    secret = created.json()["key"]
    assert secret.startswith("mly_")
    assert secret.startswith(created.json()["prefix"])
    key_headers = {"Authorization": f"Bearer {secret}"}

    listed = await client.get(ws(account, "/api-keys"), headers=account.headers)
    assert secret not in listed.text
    assert [k["name"] for k in listed.json()["items"]] == ["CRM sync"]

    assert (await client.get(ws(account), headers=key_headers)).status_code == 200
    # Scoped to its permissions, to its workspace, and never a user.
    assert (
        await client.patch(ws(account), headers=key_headers, json={"name": "x"})
    ).status_code == 403
    other = await client.post("/api/v1/workspaces", headers=account.headers, json={"name": "Other"})
    other_id = other.json()["id"]
    assert (
        await client.get(f"/api/v1/workspaces/{other_id}", headers=key_headers)
    ).status_code == 404
    assert (await client.get("/api/v1/me", headers=key_headers)).status_code == 403

    revoked = await client.delete(
        ws(account, f"/api-keys/{created.json()['id']}"), headers=account.headers
    )
    assert revoked.status_code == 204
    assert (await client.get(ws(account), headers=key_headers)).status_code == 401


async def test_api_key_permissions_are_checked(client: httpx.AsyncClient, account: Account) -> None:
    unknown = await client.post(
        ws(account, "/api-keys"),
        headers=account.headers,
        json={"name": "k", "permissions": ["root"]},
    )
    assert unknown.status_code == 400
    editor = await join(client, account, "editor")
    beyond = await client.post(
        ws(editor, "/api-keys"),
        headers=editor.headers,
        json={"name": "k", "permissions": ["workspace:delete"]},
    )
    assert beyond.status_code == 403
    past = datetime.now(UTC) - timedelta(days=1)
    expired = await client.post(
        ws(account, "/api-keys"),
        headers=account.headers,
        json={"name": "k", "permissions": ["workspace:read"], "expires_at": past.isoformat()},
    )
    assert expired.status_code == 400


async def test_permission_catalogue(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.get("/api/v1/permissions", headers=account.headers)
    catalogue = {p["name"]: p["roles"] for p in response.json()}
    assert catalogue["workspace:delete"] == ["owner"]
    assert "viewer" in catalogue["campaigns:read"]
    assert "viewer" not in catalogue["campaigns:send"]
