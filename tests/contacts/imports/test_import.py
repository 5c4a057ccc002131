"""The import job: modes, validation, the error report, suppression, lists and consent."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from maily.kit.db import AsyncSession
from maily.models import (
    ConsentRecord,
    Contact,
    ListMembership,
    SubscriptionConfirmation,
)
from tests.conftest import Account
from tests.contacts.exports.support import RecordingQueue, run_jobs
from tests.contacts.imports.support import (
    add_contact,
    add_field,
    add_list,
    base,
    csv_bytes,
    error_report,
    fetch,
    run_import,
    start,
    uploaded,
)


async def contacts_of(session: AsyncSession, account: Account) -> dict[str, Contact]:
    session.expire_all()
    query = select(Contact).where(Contact.workspace_id == account.workspace_id)
    return {c.email: c for c in (await session.execute(query)).scalars()}


async def memberships(session: AsyncSession, account: Account) -> dict[tuple[str, str], str]:
    """(email, list id) -> membership status."""
    query = (
        select(Contact.email, ListMembership.list_id, ListMembership.status)
        .join(
            Contact,
            (Contact.workspace_id == ListMembership.workspace_id)
            & (Contact.id == ListMembership.contact_id),
        )
        .where(ListMembership.workspace_id == account.workspace_id)
    )
    return {(e, str(lid)): s for e, lid, s in await session.execute(query)}


async def consents(session: AsyncSession, account: Account) -> list[tuple[str, str, str, str]]:
    query = (
        select(Contact.email, ConsentRecord.list_id, ConsentRecord.action, ConsentRecord.source)
        .join(
            Contact,
            (Contact.workspace_id == ConsentRecord.workspace_id)
            & (Contact.id == ConsentRecord.contact_id),
        )
        .where(ConsentRecord.workspace_id == account.workspace_id)
        .order_by(Contact.email, ConsentRecord.occurred_at)
    )
    return [(e, str(lid), a, s) for e, lid, a, s in await session.execute(query)]


@pytest.fixture
def do_import(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> Any:
    async def run(rows: list[list[str]], **changes: Any) -> dict[str, Any]:
        return await run_import(
            client, account, session, app.state.maily.settings, jobs, csv_bytes(rows), **changes
        )

    return run


HEADER = ["email", "first_name", "last_name", "tags"]


async def existing_contact(client: httpx.AsyncClient, account: Account, list_id: str) -> None:
    await add_contact(
        client,
        account,
        "old@example.com",
        first_name="Olga",
        last_name="Old",
        tags=["kept"],
        list_ids=[list_id],
    )


async def test_add_only_creates_new_contacts_and_keeps_existing_details(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, do_import: Any
) -> None:
    old_list = await add_list(client, account, name="Old")
    new_list = await add_list(client, account, name="New")
    await existing_contact(client, account, old_list)
    result = await do_import(
        [
            HEADER,
            ["OLD@example.com", "Changed", "", "fromfile"],
            ["new@example.com", "Nina", "New", "a, b,a"],
        ],
        mode="add_only",
        list_ids=[new_list],
        tags=["webinar"],
    )
    assert result["status"] == "completed", result["error"]
    assert (result["rows_created"], result["rows_updated"], result["rows_skipped"]) == (1, 0, 1)
    contacts = await contacts_of(session, account)
    old, new = contacts["old@example.com"], contacts["new@example.com"]
    # Details of the existing contact stay; the import's own tags and lists are added.
    assert (old.first_name, old.last_name, old.tags) == ("Olga", "Old", ["kept", "webinar"])
    assert (new.first_name, new.last_name, new.tags) == ("Nina", "New", ["a", "b", "webinar"])
    assert new.source == "import"
    assert await memberships(session, account) == {
        ("old@example.com", old_list): "subscribed",
        ("old@example.com", new_list): "subscribed",
        ("new@example.com", new_list): "subscribed",
    }
    assert result["subscriptions"] == 2


async def test_update_existing_overwrites_with_non_empty_cells_only(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, do_import: Any
) -> None:
    await add_field(client, account, "plan", "text")
    await add_field(client, account, "seats", "number")
    await add_contact(
        client,
        account,
        "old@example.com",
        first_name="Olga",
        last_name="Old",
        tags=["kept"],
        fields={"plan": "free", "seats": 3},
        timezone="Europe/Oslo",
    )
    await add_contact(client, account, "same@example.com", first_name="Sam", tags=["x"])
    result = await do_import(
        [
            ["email", "first_name", "last_name", "plan", "seats", "tags", "timezone"],
            ["old@example.com", "Olivia", "", "pro", "", "added", ""],
            ["same@example.com", "Sam", "", "", "", "x", ""],
            ["new@example.com", "Nina", "", "", "2,5", "", "Asia/Tokyo"],
        ],
        mode="update_existing",
        mapping={
            "email": "email",
            "first_name": "first_name",
            "last_name": "last_name",
            "plan": "field:plan",
            "seats": "field:seats",
            "tags": "tags",
            "timezone": "timezone",
        },
    )
    assert result["status"] == "completed", result["error"]
    # A row that would change nothing is not written, and counts as skipped.
    assert (result["rows_created"], result["rows_updated"], result["rows_skipped"]) == (1, 1, 1)
    contacts = await contacts_of(session, account)
    old = contacts["old@example.com"]
    assert (old.first_name, old.last_name) == ("Olivia", "Old")
    assert old.fields == {"plan": "pro", "seats": 3}
    assert old.tags == ["kept", "added"]
    assert old.timezone == "Europe/Oslo"
    new = contacts["new@example.com"]
    assert new.fields == {"seats": 2.5}
    assert new.timezone == "Asia/Tokyo"
    assert new.last_name == ""


async def test_skip_existing_leaves_existing_contacts_entirely_alone(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, do_import: Any
) -> None:
    old_list = await add_list(client, account, name="Old")
    new_list = await add_list(client, account, name="New")
    await existing_contact(client, account, old_list)
    result = await do_import(
        [HEADER, ["old@example.com", "Changed", "X", "t"], ["new@example.com", "Nina", "", ""]],
        mode="skip_existing",
        list_ids=[new_list],
        tags=["webinar"],
    )
    assert (result["rows_created"], result["rows_updated"], result["rows_skipped"]) == (1, 0, 1)
    contacts = await contacts_of(session, account)
    old = contacts["old@example.com"]
    assert (old.first_name, old.last_name, old.tags) == ("Olga", "Old", ["kept"])
    assert contacts["new@example.com"].tags == ["webinar"]
    assert await memberships(session, account) == {
        ("old@example.com", old_list): "subscribed",
        ("new@example.com", new_list): "subscribed",
    }


async def test_bad_and_repeated_rows_go_to_the_error_report(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    redis: Redis,
    do_import: Any,
) -> None:
    long_name = "N" * 250
    result = await do_import(
        [
            HEADER,
            ["ann@example.com", "Ann", "", ""],
            ["=HYPERLINK(evil)", "", "", ""],
            ["", "no address", "", ""],
            ["", "", "", ""],  # a blank row is skipped silently
            [" Ann@Example.COM ", "Ann again", "", ""],
            ["bob@@example.com", "", "", ""],
            ["info@example.com", "", "", ""],
            ["cy@example.com", long_name, "", ""],
        ]
    )
    assert result["status"] == "completed"
    assert result["rows_total"] == 7
    assert result["rows_created"] == 3
    assert result["rows_invalid"] == 4
    assert result["rows_duplicate"] == 1
    assert result["rows_role"] == 1
    assert result["has_error_report"] is True
    # The counts are the import's own, not only its progress in Redis, which expires.
    await redis.flushdb()
    again = await client.get(
        f"/api/v1/workspaces/{account.workspace_id}/imports/{result['id']}",
        headers=account.headers,
    )
    assert (again.json()["rows_duplicate"], again.json()["rows_role"]) == (1, 1)
    report = await error_report(client, account, result["id"])
    assert report == [
        ["row", "value", "reason"],
        ["3", "'=HYPERLINK(evil)", "invalid address: no @ in the address"],
        ["4", "", "invalid address: empty address"],
        ["6", " Ann@Example.COM ", "duplicate address: an earlier row has it"],
        ["7", "bob@@example.com", "invalid address: not a valid address"],
        ["8", "info@example.com", "role address: imported, and flagged"],
        ["9", "N" * 200, "first_name longer than 200: cut short"],
    ]
    contacts = await contacts_of(session, account)
    assert contacts["ann@example.com"].first_name == "Ann"  # the first row wins
    assert "info@example.com" in contacts
    assert contacts["cy@example.com"].first_name == "N" * 200


async def test_custom_field_values_are_checked_against_their_type(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, do_import: Any
) -> None:
    await add_field(client, account, "score", "number")
    await add_field(client, account, "born", "date")
    await add_field(client, account, "vip", "boolean")
    await add_field(client, account, "plan", "choice", choices=["free", "pro"])
    await add_field(client, account, "note", "text")
    result = await do_import(
        [
            ["email", "score", "born", "vip", "plan", "note", "locale", "tz"],
            ["a@example.com", "42", "1990-02-03", "yes", "pro", 'says "hi"\\', "pt_BR", "UTC"],
            ["b@example.com", "lots", "03/02/1990", "maybe", "gold", "", "english!", "Mars/Base"],
            ["c@example.com", "-1.5", "", "0", "", "ünï", "en", ""],
        ],
        mapping={
            "email": "email",
            "score": "field:score",
            "born": "field:born",
            "vip": "field:vip",
            "plan": "field:plan",
            "note": "field:note",
            "locale": "locale",
            "tz": "timezone",
        },
    )
    assert result["status"] == "completed", result["error"]
    assert result["rows_created"] == 3
    assert result["rows_invalid"] == 0
    contacts = await contacts_of(session, account)
    assert contacts["a@example.com"].fields == {
        "score": 42,
        "born": "1990-02-03",
        "vip": True,
        "plan": "pro",
        "note": 'says "hi"\\',
    }
    assert (contacts["a@example.com"].locale, contacts["a@example.com"].timezone) == (
        "pt_BR",
        "UTC",
    )
    assert contacts["b@example.com"].fields == {}
    assert (contacts["b@example.com"].locale, contacts["b@example.com"].timezone) == (None, None)
    assert contacts["c@example.com"].fields == {"score": -1.5, "vip": False, "note": "ünï"}
    report = await error_report(client, account, result["id"])
    reasons = [(line[0], line[1], line[2].split(":")[0]) for line in report[1:]]
    assert reasons == [
        ("3", "Mars/Base", "unknown time zone (value ignored, contact imported)"),
        ("3", "english!", "not a locale like en or pt-BR (value ignored, contact imported)"),
        ("3", "lots", "custom field score"),
        ("3", "03/02/1990", "custom field born"),
        ("3", "maybe", "custom field vip"),
        ("3", "gold", "custom field plan"),
    ]


async def test_suppressed_addresses_are_imported_but_never_subscribed(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, do_import: Any
) -> None:
    list_id = await add_list(client, account)
    for value, kind in (("gone@example.com", "address"), ("blocked.example", "domain")):
        response = await client.post(
            f"{base(account)}/suppressions",
            headers=account.headers,
            json={"value": value, "kind": kind},
        )
        assert response.status_code == 201, response.text
    result = await do_import(
        [
            HEADER,
            ["ok@example.com", "", "", ""],
            ["Gone@example.com", "", "", ""],
            ["anyone@blocked.example", "", "", ""],
        ],
        list_ids=[list_id],
    )
    assert result["status"] == "completed"
    assert result["rows_created"] == 3
    assert result["rows_suppressed"] == 2
    assert await memberships(session, account) == {("ok@example.com", list_id): "subscribed"}
    report = await error_report(client, account, result["id"])
    assert [line[:2] for line in report[1:]] == [
        ["3", "gone@example.com"],
        ["4", "anyone@blocked.example"],
    ]
    assert report[1][2].startswith("suppressed (")


async def test_list_subscriptions_follow_the_consent_rules(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, do_import: Any
) -> None:
    single = await add_list(client, account, name="Single")
    double = await add_list(client, account, name="Double", opt_in="double")
    # Someone who left the list, someone who left everything, someone half-way
    # through a double opt-in.
    await add_contact(client, account, "left@example.com", list_ids=[single])
    contact = (await contacts_of(session, account))["left@example.com"]
    response = await client.post(
        f"{base(account)}/contacts/bulk",
        headers=account.headers,
        json={
            "action": "remove_from_list",
            "list_id": single,
            "selection": {"contact_ids": [str(contact.id)]},
        },
    )
    assert response.status_code == 200, response.text
    await add_contact(client, account, "gone@example.com", status="unsubscribed")
    pending = await add_contact(client, account, "pending@example.com", list_ids=[double])
    before = await memberships(session, account)
    assert before[("pending@example.com", double)] == "unconfirmed"

    result = await do_import(
        [
            HEADER,
            ["left@example.com", "", "", ""],
            ["gone@example.com", "", "", ""],
            ["pending@example.com", "", "", ""],
            ["fresh@example.com", "", "", ""],
        ],
        list_ids=[single, double],
    )
    assert result["status"] == "completed", result["error"]
    assert await memberships(session, account) == {
        ("left@example.com", single): "unsubscribed",  # their own choice stands
        ("left@example.com", double): "subscribed",
        ("pending@example.com", double): "subscribed",  # the import asserts consent
        ("pending@example.com", single): "subscribed",
        ("fresh@example.com", single): "subscribed",
        ("fresh@example.com", double): "subscribed",  # at once, even on double opt-in
    }
    assert result["subscriptions"] == 5
    imported = [c for c in await consents(session, account) if c[3] == "import"]
    assert sorted((email, list_id) for email, list_id, _, _ in imported) == sorted(
        [
            ("fresh@example.com", single),
            ("fresh@example.com", double),
            ("left@example.com", double),
            ("pending@example.com", single),
            ("pending@example.com", double),
        ]
    )
    assert {action for _, _, action, _ in imported} == {"subscribe"}
    open_links = await session.execute(
        select(SubscriptionConfirmation.id).where(
            SubscriptionConfirmation.workspace_id == account.workspace_id,
            SubscriptionConfirmation.contact_id == uuid.UUID(pending["id"]),
            SubscriptionConfirmation.used_at.is_(None),
        )
    )
    assert open_links.first() is None  # the pending opt-in is settled


async def test_a_file_broken_half_way_fails_and_changes_nothing(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, app: Any, jobs: Any
) -> None:
    rows = [["email"]] + [[f"p{n}@example.com"] for n in range(50)]
    content = csv_bytes(rows) + b'"broken@example.com,\r\n' + b"x" * 140_000 + b"\r\n"
    result = await run_import(client, account, session, app.state.maily.settings, jobs, content)
    assert result["status"] == "failed"
    assert "stops being valid CSV" in result["error"]
    assert await contacts_of(session, account) == {}


async def test_an_import_of_only_blank_rows_fails(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, app: Any, jobs: Any
) -> None:
    content = b"email,name\r\nann@example.com,Ann\r\n"
    created = await uploaded(client, account, content)
    # The file changes under the import (a remote store, a bug): the job copes.
    storage = app.state.maily.storage
    await storage.put_bytes(
        f"workspaces/{account.workspace_id}/imports/{created['id']}/source", b"email,name\r\n,\r\n"
    )
    await start(client, account, created["id"])
    await run_jobs(session, app.state.maily.settings, jobs)
    result = await fetch(client, account, created["id"])
    assert result["status"] == "failed"
    assert result["error"] == "the file has no contact rows"


async def test_a_deleted_custom_field_fails_the_import(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, app: Any, jobs: Any
) -> None:
    await add_field(client, account, "plan", "text")
    fields = await client.get(f"{base(account)}/fields", headers=account.headers)
    created = await uploaded(client, account, b"email,plan\r\nann@example.com,pro\r\n")
    assert created["mapping"]["plan"] == "field:plan"
    await start(client, account, created["id"])
    response = await client.delete(
        f"{base(account)}/fields/{fields.json()[0]['id']}", headers=account.headers
    )
    assert response.status_code == 204
    await run_jobs(session, app.state.maily.settings, jobs)
    result = await fetch(client, account, created["id"])
    assert result["status"] == "failed"
    assert "custom field 'plan' was deleted" in result["error"]
    assert await contacts_of(session, account) == {}


async def test_the_source_file_is_discarded_once_the_import_is_done(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, app: Any, jobs: Any
) -> None:
    result = await run_import(
        client,
        account,
        session,
        app.state.maily.settings,
        jobs,
        b"email\r\nann@example.com\r\n",
    )
    # The follow-up job goes out when the import's transaction commits.
    await session.jobs.flush()
    assert await run_jobs(session, app.state.maily.settings, jobs) == [
        "contacts.import_discard_file"
    ]
    storage = app.state.maily.storage
    key = f"workspaces/{account.workspace_id}/imports/{result['id']}/source"
    assert await storage.stat(key) is None


async def test_the_error_report_is_a_bare_header_until_there_is_one(
    client: httpx.AsyncClient, account: Account, do_import: Any
) -> None:
    created = await uploaded(client, account, b"email\r\nann@example.com\r\n")
    assert await error_report(client, account, created["id"]) == [["row", "value", "reason"]]
    result = await do_import([["email"], ["bob@example.com"]])
    assert result["has_error_report"] is False
    assert await error_report(client, account, result["id"]) == [["row", "value", "reason"]]


async def test_imports_are_listed_newest_first_with_a_cursor(
    client: httpx.AsyncClient, account: Account
) -> None:
    ids = [
        (await uploaded(client, account, f"email\r\np{n}@example.com\r\n".encode()))["id"]
        for n in range(3)
    ]
    url = f"{base(account)}/imports"
    first = (await client.get(url, headers=account.headers, params={"limit": 2})).json()
    assert [i["id"] for i in first["items"]] == [ids[2], ids[1]]
    second = (
        await client.get(
            url, headers=account.headers, params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert [i["id"] for i in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None
