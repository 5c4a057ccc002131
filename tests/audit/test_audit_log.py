"""The audit log: recorded inside the caller's transaction, read newest first by the team."""

from __future__ import annotations

import uuid

import httpx

from maily.audit.service import record_audit
from maily.kit.db import AsyncSession
from tests.conftest import Account


def url(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}/audit-log"


async def test_entries_read_newest_first_with_cursor_and_filters(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    target = uuid.uuid4()
    for n in range(3):
        await record_audit(
            session, account.workspace_id, f"user:{account.user_id}", "contact.erased",
            "contact", target if n == 1 else uuid.uuid4(), {"n": n},
        )  # fmt: skip
    await record_audit(session, account.workspace_id, "system", "contact_export.requested",
                       "contact_export", None)  # fmt: skip

    first = await client.get(url(account), headers=account.headers, params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [e["action"] for e in page["items"]] == ["contact_export.requested", "contact.erased"]
    assert page["items"][0]["actor"] == "system"
    assert page["items"][0]["details"] == {}
    assert page["items"][1]["details"] == {"n": 2}
    rest = (
        await client.get(
            url(account),
            headers=account.headers,
            params={"limit": 2, "cursor": page["next_cursor"]},
        )
    ).json()
    assert [e["details"] for e in rest["items"]] == [{"n": 1}, {"n": 0}]
    assert rest["next_cursor"] is None

    by_action = (
        await client.get(url(account), headers=account.headers, params={"action": "contact.erased"})
    ).json()
    assert len(by_action["items"]) == 3
    by_target = (
        await client.get(
            url(account),
            headers=account.headers,
            params={"target_type": "contact", "target_id": str(target)},
        )
    ).json()
    assert [e["details"] for e in by_target["items"]] == [{"n": 1}]


async def test_reading_needs_members_read(client: httpx.AsyncClient, account: Account) -> None:
    async def key_with(permissions: list[str]) -> dict[str, str]:
        response = await client.post(
            f"/api/v1/workspaces/{account.workspace_id}/api-keys",
            headers=account.headers,
            json={"name": "k", "permissions": permissions},
        )
        return {"Authorization": f"Bearer {response.json()['key']}"}

    viewer_like = await key_with(["workspace:read", "contacts:read"])
    assert (await client.get(url(account), headers=viewer_like)).status_code == 403
    team_reader = await key_with(["members:read"])
    assert (await client.get(url(account), headers=team_reader)).status_code == 200
    bad = await client.get(url(account), headers=account.headers, params={"action": "a\x00b"})
    assert bad.status_code == 422
