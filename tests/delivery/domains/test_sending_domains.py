"""Sending domains over the API: keys, the records to publish, and checks against real DNS."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from maily.api.state import AppState
from maily.config import DeliverySettings
from maily.delivery.domains.service import describe_domain
from maily.delivery.domains.verification import DnsLookup, LookupFailed
from maily.kit.crypto import get_secret_box
from maily.kit.db import AsyncSession
from maily.models import SendingDomain
from tests.conftest import Account
from tests.delivery.domains.conftest import MX_HOST, SPF_INCLUDE, delivery_settings
from tests.delivery.domains.dns_server import LocalDnsServer


def base(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}/sending-domains"


async def create(
    client: httpx.AsyncClient, account: Account, domain: str = "example.com", **body: Any
) -> dict[str, Any]:
    response = await client.post(
        base(account), headers=account.headers, json={"domain": domain, **body}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def verify(client: httpx.AsyncClient, account: Account, domain_id: str) -> dict[str, Any]:
    response = await client.post(f"{base(account)}/{domain_id}/verify", headers=account.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def publish(dns: LocalDnsServer, records: list[dict[str, Any]]) -> None:
    """Put the records the API asked for into DNS, as the domain's owner would."""
    for record in records:
        if record["type"] == "MX":
            dns.set(record["name"], "MX", f"{record['priority']} {record['value']}.")
        elif record["type"] == "CNAME":
            dns.set(record["name"], "CNAME", record["value"] + ".")
        else:
            dns.set(record["name"], record["type"], record["value"])


def by_purpose(domain: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {record["purpose"]: record for record in domain["records"]}


async def test_create_shows_the_records_to_publish(
    client: httpx.AsyncClient, account: Account
) -> None:
    domain = await create(client, account, "Example.COM.")
    assert domain["domain"] == "example.com"
    assert domain["dkim_algorithm"] == "rsa-sha256"
    assert domain["dkim_selector"].startswith("mly")
    assert domain["return_path_domain"] == "bounces.example.com"
    assert domain["verified"] is False
    assert domain["verified_at"] is None
    records = by_purpose(domain)
    dkim = records["dkim"]
    assert dkim["type"] == "TXT"
    assert dkim["name"] == f"{domain['dkim_selector']}._domainkey.example.com"
    assert dkim["value"].startswith("v=DKIM1; k=rsa; p=MIIB")
    assert records["return_path"] == {
        "purpose": "return_path",
        "type": "MX",
        "name": "bounces.example.com",
        "value": MX_HOST,
        "priority": 10,
        "status": "pending",
        "detail": None,
        "found": [],
    }
    assert records["spf"]["name"] == "bounces.example.com"
    assert records["spf"]["value"] == f"v=spf1 {SPF_INCLUDE} ~all"
    assert records["dmarc"]["name"] == "_dmarc.example.com"
    assert records["dmarc"]["value"] == "v=DMARC1; p=none; rua=mailto:dmarc@maily.test"
    assert {r["status"] for r in domain["records"]} == {"pending"}
    # A 2048-bit key does not fit one TXT string: the zone file splits it.
    dkim_line = next(line for line in domain["zone_file"].splitlines() if "_domainkey" in line)
    assert dkim_line.count('"') == 4


async def test_private_key_is_encrypted_at_rest(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    domain = await create(client, account)
    stored = (
        await session.execute(
            text("SELECT dkim_private_key FROM sending_domains WHERE id = :id"),
            {"id": uuid.UUID(domain["id"])},
        )
    ).scalar_one()
    assert "PRIVATE KEY" not in stored
    assert get_secret_box().decrypt(stored).startswith("-----BEGIN PRIVATE KEY-----")


async def test_verification_against_dns(
    client: httpx.AsyncClient, account: Account, dns: LocalDnsServer, session: AsyncSession
) -> None:
    domain = await create(client, account)
    checked = await verify(client, account, domain["id"])
    assert checked["verified"] is False
    assert checked["checked_at"] is not None
    assert {r["purpose"]: r["status"] for r in checked["records"]} == {
        "dkim": "missing",
        "return_path": "missing",
        "spf": "missing",
        "dmarc": "missing",
    }

    publish(dns, domain["records"])
    checked = await verify(client, account, domain["id"])
    assert {r["status"] for r in checked["records"]} == {"verified"}, checked["records"]
    assert checked["verified"] is True
    verified_at = checked["verified_at"]
    assert verified_at is not None
    assert by_purpose(checked)["return_path"]["found"] == [f"10 {MX_HOST}"]
    # What the resolver really asked: every name over the wire, nothing cached.
    asked = {(name, rdtype) for name, rdtype, _ in dns.queries}
    assert (f"{domain['dkim_selector']}._domainkey.example.com", "TXT") in asked
    assert ("bounces.example.com", "MX") in asked

    # The key record disappears: the check says so, the domain stays verified.
    dns.records.pop((by_purpose(domain)["dkim"]["name"], "TXT"))
    checked = await verify(client, account, domain["id"])
    assert by_purpose(checked)["dkim"]["status"] == "missing"
    assert checked["verified_at"] == verified_at

    audit = (
        await session.execute(
            text("SELECT action FROM audit_log WHERE workspace_id = :w ORDER BY occurred_at"),
            {"w": account.workspace_id},
        )
    ).scalars()
    assert [a for a in audit if a.startswith("sending_domain.")] == [
        "sending_domain.created",
        "sending_domain.verified",
    ]


async def test_records_that_are_there_but_wrong(
    client: httpx.AsyncClient, account: Account, dns: LocalDnsServer
) -> None:
    domain = await create(client, account)
    records = by_purpose(domain)
    publish(dns, domain["records"])
    dns.set(records["dkim"]["name"], "TXT", "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A")
    dns.set("bounces.example.com", "MX", "10 mx.elsewhere.test.")
    dns.set("bounces.example.com", "TXT", "v=spf1 include:a.test ~all", "v=spf1 mx -all")
    dns.set("_dmarc.example.com", "TXT", "v=DMARC1; rua=mailto:x@example.com")
    checked = by_purpose(await verify(client, account, domain["id"]))
    assert {p: r["status"] for p, r in checked.items()} == {
        "dkim": "mismatch",
        "return_path": "mismatch",
        "spf": "mismatch",
        "dmarc": "mismatch",
    }
    assert "more than one SPF record" in checked["spf"]["detail"]
    assert checked["return_path"]["found"] == ["10 mx.elsewhere.test"]
    assert "no valid policy" in checked["dmarc"]["detail"]

    dns.set("bounces.example.com", "TXT", "v=spf1 include:other.test -all", "unrelated text")
    checked = by_purpose(await verify(client, account, domain["id"]))
    assert checked["spf"]["status"] == "mismatch"
    assert checked["spf"]["detail"] == f"the SPF record lacks {SPF_INCLUDE}"


async def test_dmarc_of_the_organisational_domain_covers_a_subdomain(
    client: httpx.AsyncClient, account: Account, dns: LocalDnsServer
) -> None:
    domain = await create(client, account, "news.example.com", dkim_algorithm="ed25519-sha256")
    publish(dns, [r for r in domain["records"] if r["purpose"] != "dmarc"])
    dns.set("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
    checked = await verify(client, account, domain["id"])
    dmarc = by_purpose(checked)["dmarc"]
    assert dmarc["status"] == "verified"
    assert dmarc["detail"] == "covered by the policy published at _dmarc.example.com"
    assert checked["verified"] is True


async def test_answers_too_big_for_udp_come_over_tcp(
    client: httpx.AsyncClient, account: Account, dns: LocalDnsServer
) -> None:
    domain = await create(client, account)
    publish(dns, domain["records"])
    dns.udp_limit = 300  # the 2048-bit key record does not fit
    checked = await verify(client, account, domain["id"])
    assert by_purpose(checked)["dkim"]["status"] == "verified"
    assert any(transport == "tcp" for _, _, transport in dns.queries)


async def test_a_resolver_that_fails_says_nothing_about_the_records(
    client: httpx.AsyncClient, account: Account, dns: LocalDnsServer
) -> None:
    domain = await create(client, account)
    publish(dns, domain["records"])
    dns.servfail = True
    checked = await verify(client, account, domain["id"])
    assert {r["status"] for r in checked["records"]} == {"lookup_failed"}
    assert checked["verified"] is False


async def test_a_silent_resolver_times_out(dns: LocalDnsServer) -> None:
    dns.silent = True
    dns.set("x.example.com", "TXT", "v=spf1 -all")
    lookup = DnsLookup(["127.0.0.1"], dns.port, timeout=0.3)
    with pytest.raises(LookupFailed, match="no DNS answer"):
        await lookup.txt("x.example.com")


async def test_a_lost_query_is_sent_again_within_the_budget(dns: LocalDnsServer) -> None:
    dns.set("x.example.com", "TXT", "v=spf1 -all")
    dns.drop = 1
    lookup = DnsLookup(["127.0.0.1"], dns.port, timeout=1.0)
    assert await lookup.txt("x.example.com") == ["v=spf1 -all"]
    assert [q[:2] for q in dns.queries] == [("x.example.com", "TXT")] * 2


class TestCnameReturnPath:
    @pytest.fixture
    def delivery(self, dns_server: LocalDnsServer) -> DeliverySettings:
        return delivery_settings(dns_server, return_path_cname_target="rp.maily.test.")

    async def test_one_cname_replaces_mx_and_spf(
        self, client: httpx.AsyncClient, account: Account, dns: LocalDnsServer
    ) -> None:
        domain = await create(client, account)
        records = by_purpose(domain)
        assert set(records) == {"dkim", "return_path", "dmarc"}
        assert records["return_path"]["type"] == "CNAME"
        assert records["return_path"]["value"] == "rp.maily.test"
        publish(dns, domain["records"])
        checked = await verify(client, account, domain["id"])
        assert checked["verified"] is True, checked["records"]
        assert by_purpose(checked)["return_path"]["found"] == ["rp.maily.test"]


async def test_ed25519_with_a_chosen_selector(
    client: httpx.AsyncClient, account: Account, dns: LocalDnsServer
) -> None:
    domain = await create(
        client, account, "bücher.example", dkim_algorithm="ed25519-sha256", dkim_selector="Shop1"
    )
    assert domain["domain"] == "xn--bcher-kva.example"
    assert domain["dkim_selector"] == "shop1"
    dkim = by_purpose(domain)["dkim"]
    assert dkim["name"] == "shop1._domainkey.xn--bcher-kva.example"
    assert dkim["value"].startswith("v=DKIM1; k=ed25519; p=")
    publish(dns, domain["records"])
    assert (await verify(client, account, domain["id"]))["verified"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"domain": "localhost"},
        {"domain": "192.168.0.1"},
        {"domain": "exa mple.com"},
        {"domain": "-bad.example.com"},
        {"domain": "a" * 64 + ".com"},
        {"domain": ("abcdefghi." * 19) + "com"},
        {"domain": "example.com", "dkim_selector": "two.labels"},
        {"domain": "example.com", "dkim_selector": ""},
        {"domain": "example.com", "dkim_algorithm": "rsa-sha1"},
        {"domain": "example.com\u0000"},
    ],
)
async def test_bad_input_is_refused(
    client: httpx.AsyncClient, account: Account, body: dict[str, Any]
) -> None:
    response = await client.post(base(account), headers=account.headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_a_domain_once_per_workspace(client: httpx.AsyncClient, account: Account) -> None:
    await create(client, account)
    again = await client.post(
        base(account), headers=account.headers, json={"domain": "EXAMPLE.com"}
    )
    assert again.status_code == 409
    assert "already a sending domain" in again.json()["error"]["message"]


async def test_list_get_delete(client: httpx.AsyncClient, account: Account) -> None:
    first = await create(client, account, "one.example.com", dkim_algorithm="ed25519-sha256")
    second = await create(client, account, "two.example.com", dkim_algorithm="ed25519-sha256")
    page = (await client.get(base(account), headers=account.headers, params={"limit": 1})).json()
    assert [d["id"] for d in page["items"]] == [first["id"]]
    rest = await client.get(
        base(account), headers=account.headers, params={"cursor": page["next_cursor"]}
    )
    assert [d["id"] for d in rest.json()["items"]] == [second["id"]]
    got = await client.get(f"{base(account)}/{first['id']}", headers=account.headers)
    assert got.json()["domain"] == "one.example.com"
    deleted = await client.delete(f"{base(account)}/{first['id']}", headers=account.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"{base(account)}/{first['id']}", headers=account.headers)
    assert gone.status_code == 404


async def test_permissions(client: httpx.AsyncClient, account: Account) -> None:
    workspace = f"/api/v1/workspaces/{account.workspace_id}"
    key = await client.post(
        f"{workspace}/api-keys",
        headers=account.headers,
        json={"name": "reader", "permissions": ["sending:read"]},
    )
    assert key.status_code == 201, key.text
    reader = {"Authorization": f"Bearer {key.json()['key']}"}
    assert (await client.get(base(account), headers=reader)).status_code == 200
    refused = await client.post(base(account), headers=reader, json={"domain": "example.com"})
    assert refused.status_code == 403
    assert "sending:write" in refused.json()["error"]["message"]
    assert (await client.get(f"{workspace}/senders", headers=reader)).status_code == 200


async def test_a_check_of_a_record_no_longer_asked_for_does_not_count(
    client: httpx.AsyncClient,
    account: Account,
    dns: LocalDnsServer,
    session: AsyncSession,
    app_state: AppState,
) -> None:
    domain = await create(client, account)
    publish(dns, domain["records"])
    await verify(client, account, domain["id"])
    row = await session.get(SendingDomain, (account.workspace_id, uuid.UUID(domain["id"])))
    assert row is not None
    # The operator moves to a CNAME return path: the MX check says nothing about it.
    delivery = app_state.settings.delivery.model_copy(
        update={"return_path_cname_target": "rp.maily.test"}
    )
    shown = describe_domain(row, app_state.settings.model_copy(update={"delivery": delivery}))
    records = {record.purpose.value: record for record in shown.records}
    assert records["return_path"].type == "CNAME"
    assert records["return_path"].status == "pending"
    assert records["dkim"].status == "verified"
    assert shown.verified is True
