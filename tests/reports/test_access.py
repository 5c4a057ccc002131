"""Who may read reports: roles and API key scopes; and nothing of one workspace in another's."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from maily.kit.db import AsyncSession
from tests.auth.test_team_and_keys import join
from tests.conftest import Account, sign_up
from tests.reports.support import T0, base, event, new_campaign, new_contact, stats


async def routes(client: httpx.AsyncClient, owner: Account, session: AsyncSession) -> list[str]:
    campaign = await new_campaign(client, owner)
    contact = await new_contact(client, owner)
    await stats(session, owner, campaign, T0, sent=123, unique_opens=45)
    await event(session, owner, contact, "open", T0, campaign)
    reports = f"{base(owner)}/reports"
    return [
        f"{reports}/campaigns/{campaign}",
        f"{reports}/campaigns/{campaign}/links",
        f"{reports}/campaigns/{campaign}/domains",
        f"{reports}/campaigns/{campaign}/timeline",
        f"{reports}/dashboard?from=2026-11-01&to=2026-11-30",
        f"{reports}/contacts/{contact}/activity",
    ]


async def api_key(
    client: httpx.AsyncClient, owner: Account, permissions: list[str]
) -> dict[str, str]:
    created = await client.post(
        f"{base(owner)}/api-keys",
        headers=owner.headers,
        json={"name": "reports", "permissions": permissions},
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


@pytest.mark.parametrize("role", ["viewer", "analyst", "editor"])
async def test_reading_roles_read_every_report(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, role: str
) -> None:
    urls = await routes(client, account, session)
    member = await join(client, account, role)
    for url in urls:
        response = await client.get(url, headers=member.headers)
        assert response.status_code == 200, (url, response.text)
        assert (await client.get(url + ("&" if "?" in url else "?") + "format=csv",
                                 headers=member.headers)).status_code == 200  # fmt: skip


async def test_api_keys_need_the_reports_scope(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    urls = await routes(client, account, session)
    allowed = await api_key(client, account, ["reports:read"])
    refused = await api_key(client, account, ["campaigns:read", "contacts:read"])
    for url in urls:
        assert (await client.get(url, headers=allowed)).status_code == 200, url
        denied = await client.get(url, headers=refused)
        assert denied.status_code == 403, url
        assert denied.json()["error"]["message"] == "this API key does not allow reports:read"


async def test_another_workspace_gets_404_and_none_of_the_numbers(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    urls = await routes(client, account, session)
    stranger = await sign_up(client)
    stranger_key = await api_key(client, stranger, ["reports:read"])
    for headers in (stranger.headers, stranger_key):
        for url in urls:
            # A's workspace id: the workspace itself is hidden.
            response = await client.get(url, headers=headers)
            assert response.status_code == 404, url
            # None of A's figures (123 sent): the error alone, whose random request id
            # may spell anything.
            error = response.json()["error"]
            error.pop("request_id", None)
            assert set(error) == {"code", "message"}, error
            assert "123" not in json.dumps(error)
            # B's own workspace id with A's campaign or contact id.
            mixed = url.replace(str(account.workspace_id), str(stranger.workspace_id))
            response = await client.get(mixed, headers=headers)
            if "/dashboard" in mixed:
                assert response.status_code == 200
                assert response.json()["totals"]["sent"] == 0
            else:
                assert response.status_code == 404, mixed
                assert response.json()["error"]["message"] in {
                    "campaign not found",
                    "contact not found",
                }


async def test_unauthenticated_calls_are_refused(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    for url in await routes(client, account, session):
        assert (await client.get(url)).status_code == 401
        forged = {"Authorization": f"Bearer mly_{uuid.uuid4().hex}"}
        assert (await client.get(url, headers=forged)).status_code == 401
