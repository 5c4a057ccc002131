"""GDPR: a contact's data as JSON, and erasure that leaves only a hashed suppression."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, text

from maily.audit.service import record_audit
from maily.contacts.audience import sendable
from maily.kit.db import AsyncSession
from maily.models import (
    AuditEntry,
    Base,
    Campaign,
    Contact,
    Delivery,
    Event,
    ListMembership,
    PendingEvent,
    SuppressionEntry,
    Template,
)
from tests.conftest import Account
from tests.contacts.exports.support import RecordingQueue
from tests.contacts.imports.support import csv_bytes, run_import

ADDRESS = "erin.erased@example.com"


def base(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}"


async def add_contact(
    client: httpx.AsyncClient, account: Account, email: str, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{base(account)}/contacts", headers=account.headers, json={"email": email, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def a_person(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> dict[str, Any]:
    """A contact with something in every place personal data is kept."""
    h = account.headers
    await client.post(
        f"{base(account)}/fields", headers=h, json={"key": "city", "label": "City", "type": "text"}
    )
    mailing_list = await client.post(f"{base(account)}/lists", headers=h, json={"name": "News"})
    contact = await add_contact(
        client,
        account,
        ADDRESS.upper(),
        first_name="Erin",
        last_name="Example",
        fields={"city": "Oslo"},
        tags=["vip"],
        list_ids=[mailing_list.json()["id"]],
    )
    contact_id = uuid.UUID(contact["id"])
    now = datetime.now(UTC)
    for offset, kind in enumerate(("sent", "open", "click")):
        session.add(
            Event(
                workspace_id=account.workspace_id,
                occurred_at=now - timedelta(days=40 - offset),
                contact_id=contact_id,
                type=kind,
                data={"url": "https://example.com/"} if kind == "click" else {},
            )
        )
    await session.flush()
    return {**contact, "list_id": mailing_list.json()["id"]}


async def test_data_export_holds_everything_about_the_contact(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    person = await a_person(client, account, session)
    other = await add_contact(client, account, "someone.else@example.com")
    response = await client.get(
        f"{base(account)}/contacts/{person['id']}/data-export", headers=account.headers
    )
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    data = response.json()

    assert data["workspace_id"] == str(account.workspace_id)
    assert data["contact"]["id"] == person["id"]
    assert data["contact"]["email"] == ADDRESS
    assert (data["contact"]["first_name"], data["contact"]["last_name"]) == ("Erin", "Example")
    assert data["custom_fields"] == [{"key": "city", "label": "City", "value": "Oslo"}]
    assert data["tags"] == ["vip"]
    [membership] = data["list_memberships"]
    assert (membership["list_id"], membership["list_name"], membership["status"]) == (
        person["list_id"],
        "News",
        "subscribed",
    )
    assert [(r["action"], r["list_id"]) for r in data["consent_records"]] == [
        ("subscribe", person["list_id"])
    ]
    assert [e["type"] for e in data["events"]] == ["sent", "open", "click"]
    assert data["events"][2]["data"] == {"url": "https://example.com/"}
    assert data["suppressions"] == []
    assert other["email"] not in response.text

    [entry] = (
        await session.execute(
            select(AuditEntry).where(
                AuditEntry.workspace_id == account.workspace_id,
                AuditEntry.action == "contact.data_exported",
            )
        )
    ).scalars()
    assert entry.target_id == uuid.UUID(person["id"])
    assert entry.details == {"email_sha256": hashlib.sha256(ADDRESS.encode()).hexdigest()}


async def tables_holding(session: AsyncSession, workspace_id: uuid.UUID, needle: str) -> list[str]:
    """Every table with a row of the workspace whose text contains `needle`."""
    found = []
    for table in Base.metadata.sorted_tables:
        if "workspace_id" not in table.c:
            continue
        count = await session.scalar(
            text(
                f"SELECT count(*) FROM {table.name} AS t "
                "WHERE t.workspace_id = :w AND strpos(lower(t::text), :needle) > 0"
            ),
            {"w": workspace_id, "needle": needle},
        )
        if count:
            found.append(table.name)
    return found


async def test_erase_leaves_only_the_hashed_suppression(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    person = await a_person(client, account, session)
    contact_id = uuid.UUID(person["id"])
    # Something another domain might (wrongly) have logged with the address in it.
    await record_audit(
        session, account.workspace_id, "system", "contact.imported", "contact", contact_id,
        {"email": ADDRESS, "row": 3},
    )  # fmt: skip
    await record_audit(
        session, account.workspace_id, "system", "contact.mailed", "contact", contact_id,
        {"to": f"<{ADDRESS.upper()}>"},
    )  # fmt: skip
    assert await tables_holding(session, account.workspace_id, ADDRESS)
    digest = hashlib.sha256(ADDRESS.encode()).digest()

    response = await client.post(
        f"{base(account)}/contacts/{contact_id}/erase", headers=account.headers
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["email_sha256"] == digest.hex()
    assert result["events_deleted"] == 3

    assert await tables_holding(session, account.workspace_id, ADDRESS) == []
    assert await tables_holding(session, account.workspace_id, "erin") == []
    contacts_left = await session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(Contact.workspace_id == account.workspace_id, Contact.id == contact_id)
    )
    events_left = await session.scalar(
        select(func.count())
        .select_from(Event)
        .where(Event.workspace_id == account.workspace_id, Event.contact_id == contact_id)
    )
    assert (contacts_left, events_left) == (0, 0)
    for table in ("list_memberships", "consent_records"):
        left = await session.scalar(
            text(f"SELECT count(*) FROM {table} WHERE workspace_id = :w AND contact_id = :c"),
            {"w": account.workspace_id, "c": contact_id},
        )
        assert left == 0, table
    [entry] = (
        await session.execute(
            select(SuppressionEntry).where(SuppressionEntry.workspace_id == account.workspace_id)
        )
    ).scalars()
    assert (entry.kind, entry.value, entry.value_hash, entry.reason) == (
        "address",
        None,
        digest,
        "erased",
    )
    assert str(entry.id) == result["suppression_id"]

    audit = {
        e.action: e
        for e in (
            await session.execute(
                select(AuditEntry).where(AuditEntry.workspace_id == account.workspace_id)
            )
        ).scalars()
    }
    assert audit["contact.imported"].details == {"email": "[erased]", "row": 3}
    assert audit["contact.mailed"].details == {"to": "<[erased]>"}
    erased = audit["contact.erased"]
    assert (erased.target_id, erased.actor) == (contact_id, f"user:{account.user_id}")
    assert erased.details["email_sha256"] == digest.hex()
    assert erased.details["events_deleted"] == 3

    again = await client.post(
        f"{base(account)}/contacts/{contact_id}/erase", headers=account.headers
    )
    assert again.status_code == 404


async def test_erase_drops_the_contact_s_events_still_waiting_for_the_stream(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    # A bounce recorded but not yet relayed (Redis was down): its row names the
    # delivery only, but the diagnostic quotes the address.
    person = await a_person(client, account, session)
    other = await add_contact(client, account, "someone.else@example.com")
    template = Template(workspace_id=account.workspace_id, name="T", kind="html")
    session.add(template)
    await session.flush()
    campaign = Campaign(
        workspace_id=account.workspace_id,
        name="Spring",
        subject="Hi",
        template_id=template.id,
        status="sent",
    )
    session.add(campaign)
    await session.flush()
    held = {}
    for contact in (person, other):
        delivery = Delivery(
            workspace_id=account.workspace_id,
            campaign_id=campaign.id,
            contact_id=uuid.UUID(contact["id"]),
            email=contact["email"],
            status="bounced",
        )
        session.add(delivery)
        await session.flush()
        row = PendingEvent(
            fields={
                "k": "bounce",
                "d": delivery.id.hex,
                "t": "1764633600000",
                "bt": "hard",
                "diag": f"550 5.1.1 <{contact['email']}>: user unknown",
            }
        )
        session.add(row)
        await session.flush()
        held[contact["email"]] = row.id

    response = await client.post(
        f"{base(account)}/contacts/{person['id']}/erase", headers=account.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["events_deleted"] == 3 + 1
    left = (await session.execute(select(PendingEvent.id, PendingEvent.fields))).all()
    assert [row.id for row in left] == [held["someone.else@example.com"]]
    assert all(ADDRESS not in str(row.fields) for row in left)


async def test_erase_keeps_an_existing_suppression_but_drops_its_address(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    suppressed = await client.post(
        f"{base(account)}/suppressions",
        headers=account.headers,
        json={"value": ADDRESS, "reason": "hard_bounce", "note": f"bounced: {ADDRESS}"},
    )
    assert suppressed.status_code == 201, suppressed.text
    contact = await add_contact(client, account, ADDRESS)
    exported = await client.get(
        f"{base(account)}/contacts/{contact['id']}/data-export", headers=account.headers
    )
    assert [s["reason"] for s in exported.json()["suppressions"]] == ["hard_bounce"]

    response = await client.post(
        f"{base(account)}/contacts/{contact['id']}/erase", headers=account.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["suppression_id"] == suppressed.json()["id"]
    [entry] = (
        await session.execute(
            select(SuppressionEntry).where(SuppressionEntry.workspace_id == account.workspace_id)
        )
    ).scalars()
    await session.refresh(entry)
    assert (entry.value, entry.reason, entry.note) == (None, "hard_bounce", "")
    assert await tables_holding(session, account.workspace_id, ADDRESS) == []
    # The person asked to be forgotten: their suppression cannot be lifted.
    lifted = await client.delete(
        f"{base(account)}/suppressions/{entry.id}", headers=account.headers
    )
    assert lifted.status_code == 409


async def test_an_erased_address_added_again_is_never_sendable(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    person = await a_person(client, account, session)
    erased = await client.post(
        f"{base(account)}/contacts/{person['id']}/erase", headers=account.headers
    )
    assert erased.status_code == 200

    again = await add_contact(client, account, f"  {ADDRESS.title()} ")
    assert again["suppressed"] is True
    sendable_ids = (
        await session.execute(
            select(Contact.id).where(
                Contact.workspace_id == account.workspace_id, sendable(account.workspace_id)
            )
        )
    ).scalars()
    assert uuid.UUID(again["id"]) not in set(sendable_ids)
    added = await client.post(
        f"{base(account)}/contacts/bulk",
        headers=account.headers,
        json={
            "action": "add_to_list",
            "list_id": person["list_id"],
            "selection": {"contact_ids": [again["id"]]},
        },
    )
    assert added.status_code == 200, added.text
    assert added.json()["affected"] == 0


async def test_an_erased_address_imported_again_stays_suppressed(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    person = await a_person(client, account, session)
    erased = await client.post(
        f"{base(account)}/contacts/{person['id']}/erase", headers=account.headers
    )
    assert erased.status_code == 200

    content = csv_bytes([["Email", "First name"], [ADDRESS.upper(), "Erin"]])
    result = await run_import(
        client,
        account,
        session,
        app.state.maily.settings,
        jobs,
        content,
        list_ids=[person["list_id"]],
    )
    assert result["status"] == "completed", result
    subscribed = await session.scalar(
        select(func.count())
        .select_from(ListMembership)
        .where(
            ListMembership.workspace_id == account.workspace_id,
            ListMembership.status == "subscribed",
        )
    )
    assert subscribed == 0
    again = (
        await session.execute(
            select(Contact.id, sendable(account.workspace_id)).where(
                Contact.workspace_id == account.workspace_id, Contact.email == ADDRESS
            )
        )
    ).all()
    # Whether the import keeps the row or skips it, the address is never mailable.
    assert all(not is_sendable for _, is_sendable in again)
    [entry] = (
        await session.execute(
            select(SuppressionEntry).where(SuppressionEntry.workspace_id == account.workspace_id)
        )
    ).scalars()
    assert (entry.value, entry.reason) == (None, "erased")


async def test_gdpr_routes_need_their_permissions(
    client: httpx.AsyncClient, account: Account
) -> None:
    contact = await add_contact(client, account, ADDRESS)
    key = await client.post(
        f"{base(account)}/api-keys",
        headers=account.headers,
        json={"name": "reader", "permissions": ["contacts:read"]},
    )
    reader = {"Authorization": f"Bearer {key.json()['key']}"}
    url = f"{base(account)}/contacts/{contact['id']}"
    assert (await client.get(f"{url}/data-export", headers=reader)).status_code == 403
    assert (await client.post(f"{url}/erase", headers=reader)).status_code == 403
    missing = f"{base(account)}/contacts/{uuid.uuid4()}"
    assert (await client.get(f"{missing}/data-export", headers=account.headers)).status_code == 404
    assert (await client.post(f"{missing}/erase", headers=account.headers)).status_code == 404
