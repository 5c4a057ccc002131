"""Senders over the API, and the sending identity a campaign sends as."""

from __future__ import annotations

import uuid
from typing import Any

import dkim
import httpx
import pytest

from maily.delivery.domains.service import load_sending_identity
from maily.delivery.domains.verification import DnsLookup
from maily.delivery.verp import Verp
from maily.kit.db import AsyncSession
from maily.kit.errors import Conflict, NotFound
from tests.conftest import Account
from tests.delivery.domains.dns_server import LocalDnsServer
from tests.delivery.domains.test_sending_domains import by_purpose, create, publish, verify


def senders(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}/senders"


async def add_sender(client: httpx.AsyncClient, account: Account, **body: Any) -> httpx.Response:
    return await client.post(senders(account), headers=account.headers, json=body)


async def test_sender_on_a_workspace_domain(client: httpx.AsyncClient, account: Account) -> None:
    domain = await create(client, account, "news.example.com", dkim_algorithm="ed25519-sha256")
    response = await add_sender(
        client,
        account,
        from_name="  The News Team ",
        from_email="Hello@News.Example.COM",
        reply_to="help@example.org",
    )
    assert response.status_code == 201, response.text
    sender = response.json()
    assert sender["from_name"] == "The News Team"
    assert sender["from_email"] == "Hello@news.example.com"
    assert sender["reply_to"] == "help@example.org"
    assert sender["sending_domain_id"] == domain["id"]
    assert sender["domain"] == "news.example.com"
    assert sender["verified"] is False

    listed = (await client.get(senders(account), headers=account.headers)).json()
    assert [s["id"] for s in listed["items"]] == [sender["id"]]


async def test_from_must_be_on_a_sending_domain(
    client: httpx.AsyncClient, account: Account
) -> None:
    await create(client, account, "news.example.com", dkim_algorithm="ed25519-sha256")
    for address in ("hello@example.com", "hello@other.news.example.com"):
        response = await add_sender(client, account, from_email=address)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert "is not a sending domain of this workspace" in error["message"]
        assert error["details"][0]["loc"] == ["body", "from_email"]


@pytest.mark.parametrize(
    "body",
    [
        {"from_email": "not-an-address"},
        {"from_email": "jürgen@news.example.com"},
        {"from_email": "a@news.example.com", "from_name": "Evil\r\nBcc: victim@example.net"},
        {"from_email": "a@news.example.com", "reply_to": "nope"},
        {"from_email": "a@news.example.com", "from_name": "x" * 201},
    ],
)
async def test_bad_senders_are_refused(
    client: httpx.AsyncClient, account: Account, body: dict[str, Any]
) -> None:
    await create(client, account, "news.example.com", dkim_algorithm="ed25519-sha256")
    response = await add_sender(client, account, **body)
    assert response.status_code == 422, response.text


async def test_update_and_delete(client: httpx.AsyncClient, account: Account) -> None:
    first = await create(client, account, "news.example.com", dkim_algorithm="ed25519-sha256")
    second = await create(client, account, "shop.example.com", dkim_algorithm="ed25519-sha256")
    sender = (
        await add_sender(client, account, from_email="a@news.example.com", reply_to="r@example.org")
    ).json()
    url = f"{senders(account)}/{sender['id']}"
    moved = await client.patch(
        url, headers=account.headers, json={"from_email": "b@shop.example.com", "reply_to": None}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["sending_domain_id"] == second["id"]
    assert moved.json()["reply_to"] is None
    renamed = await client.patch(url, headers=account.headers, json={"from_name": "Shop"})
    assert renamed.json()["from_name"] == "Shop"
    assert renamed.json()["from_email"] == "b@shop.example.com"
    bad = await client.patch(url, headers=account.headers, json={"from_email": "b@example.com"})
    assert bad.status_code == 422

    # A domain with senders stays.
    domains = f"/api/v1/workspaces/{account.workspace_id}/sending-domains"
    blocked = await client.delete(f"{domains}/{second['id']}", headers=account.headers)
    assert blocked.status_code == 409
    assert "used by 1 sender" in blocked.json()["error"]["message"]
    assert (await client.delete(url, headers=account.headers)).status_code == 204
    assert (await client.get(url, headers=account.headers)).status_code == 404
    assert (
        await client.delete(f"{domains}/{second['id']}", headers=account.headers)
    ).status_code == 204
    assert (
        await client.delete(f"{domains}/{first['id']}", headers=account.headers)
    ).status_code == 204


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
async def test_identity_signs_mail_that_verifies_against_published_dns(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    dns: LocalDnsServer,
    algorithm: str,
) -> None:
    domain = await create(client, account, "news.example.com", dkim_algorithm=algorithm)
    sender = (
        await add_sender(client, account, from_name="Zoë's News", from_email="z@news.example.com")
    ).json()
    sender_id = uuid.UUID(sender["id"])
    with pytest.raises(Conflict, match="not verified"):
        await load_sending_identity(session, account.workspace_id, sender_id)

    publish(dns, domain["records"])
    assert (await verify(client, account, domain["id"]))["verified"] is True
    identity = await load_sending_identity(session, account.workspace_id, sender_id)
    assert identity.from_email == "z@news.example.com"
    assert identity.return_path_domain == "bounces.news.example.com"
    assert identity.signer.algorithm.value == algorithm

    verp = Verp("a secret for this test....................")
    builder = identity.message_builder(
        verp=verp,
        campaign_id=uuid.uuid4(),
        list_id="weekly",
        unsubscribe_url="https://maily.example/u/{token}",
    )
    delivery_id = uuid.uuid4()
    out = builder.build(
        recipient="bob@example.org",
        subject="Hello from the news",
        html="<p>Hi Bob</p>",
        text="Hi Bob",
        delivery_id=delivery_id,
        unsubscribe_token="t0k",
    )
    assert verp.parse(out.envelope_from) == delivery_id
    assert out.envelope_from.endswith("@bounces.news.example.com")

    # The key comes from the DNS server, fetched the way a receiver would.
    key_name = by_purpose(domain)["dkim"]["name"]
    [record] = await DnsLookup(["127.0.0.1"], dns.port).txt(key_name)

    def receiver_dns(name: bytes, timeout: int = 5) -> bytes:
        assert name.decode().rstrip(".") == key_name
        return record.encode()

    assert dkim.verify(out.data, dnsfunc=receiver_dns)


async def test_identity_of_a_missing_sender(session: AsyncSession, account: Account) -> None:
    with pytest.raises(NotFound):
        await load_sending_identity(session, account.workspace_id, uuid.uuid4())
