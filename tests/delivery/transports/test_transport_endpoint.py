"""The transport a workspace's mail goes out through, as the API shows it: where, how
fast, never with its credentials."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from maily.api.state import AppState
from maily.config import SMTPSettings
from tests.conftest import Account, sign_up


def transport_of(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}/transport"


async def test_the_outbox_by_default(client: httpx.AsyncClient, account: Account) -> None:
    answer = await client.get(transport_of(account), headers=account.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["name"] == "outbox"
    assert body["destination"] is None
    assert body["configured_by"] == "environment"
    assert "not delivered" in body["description"]


async def test_a_relay_is_named_without_its_credentials(
    client: httpx.AsyncClient,
    account: Account,
    app_state: AppState,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = SMTPSettings(
        host="relay.example.com",
        username="mailer",
        password=SecretStr("relay-password-never-shown"),
    )
    monkeypatch.setattr(app_state.settings, "transport", "smtp")
    monkeypatch.setattr(app_state.settings, "smtp", relay)
    monkeypatch.setattr(app_state.settings.sender, "transport_rate_per_second", 50.0)

    answer = await client.get(transport_of(account), headers=account.headers)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["name"] == "smtp"
    assert body["destination"] == "relay.example.com:587"
    assert body["security"] == "starttls"
    assert body["rate_per_second"] == 50.0
    assert "relay-password-never-shown" not in answer.text
    assert "mailer" not in answer.text


async def test_another_workspace_cannot_read_it(
    client: httpx.AsyncClient, account: Account
) -> None:
    stranger = await sign_up(client)
    answer = await client.get(transport_of(account), headers=stranger.headers)
    assert answer.status_code in (403, 404), answer.text
    assert "error" in answer.json()
    assert (await client.get(transport_of(account))).status_code == 401
