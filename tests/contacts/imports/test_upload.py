"""Uploading an import file: streaming to storage, detection, the guessed mapping, and the
files that are refused with nothing kept."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from maily.kit.db import AsyncSession
from maily.models import Contact, ContactImport
from tests.conftest import Account
from tests.contacts.exports.support import RecordingQueue
from tests.contacts.imports.support import (
    add_field,
    add_list,
    base,
    configure,
    csv_bytes,
    error_report,
    run_import,
    start,
    upload,
    uploaded,
)


async def stored_keys(app: Any, account: Account) -> list[str]:
    storage = app.state.maily.storage
    return [o.key async for o in storage.list(f"workspaces/{account.workspace_id}/imports/")]


async def import_rows(session: AsyncSession, account: Account) -> int:
    query = select(func.count()).where(ContactImport.workspace_id == account.workspace_id)
    return int((await session.execute(query)).scalar_one())


async def contacts_of(session: AsyncSession, account: Account) -> dict[str, Contact]:
    query = select(Contact).where(Contact.workspace_id == account.workspace_id)
    return {c.email: c for c in (await session.execute(query)).scalars()}


async def test_upload_detects_the_file_and_guesses_the_mapping(
    client: httpx.AsyncClient, account: Account, app: Any
) -> None:
    await add_field(client, account, "plan", "choice", label="Plan type", choices=["free", "pro"])
    await add_field(client, account, "city", "text")
    content = csv_bytes(
        [
            ["E-Mail Address", "Vorname", "Surname", "Plan Type", "city", "Notes", "TZ"],
            ["ann@example.com", "Ann", "Lee", "pro", "Oslo", "likes cats", "Europe/Oslo"],
            ["bob@example.com", "Bob", "Ray", "free", "Rome", "", ""],
        ]
    )
    body = await uploaded(client, account, content, filename="../../etc/Leads 2024.csv")
    assert body["status"] == "uploaded"
    assert body["filename"] == "Leads 2024.csv"  # no path from the client survives
    assert body["format"] == "csv"
    assert body["delimiter"] == ","
    assert body["encoding"] == "utf-8"
    assert body["size_bytes"] == len(content)
    assert body["columns"] == [
        "E-Mail Address",
        "Vorname",
        "Surname",
        "Plan Type",
        "city",
        "Notes",
        "TZ",
    ]
    assert body["mapping"] == {
        "E-Mail Address": "email",
        "Vorname": "first_name",
        "Surname": "last_name",
        "Plan Type": "field:plan",  # by label
        "city": "field:city",  # by key
        "Notes": "ignore",
        "TZ": "timezone",
    }
    assert body["sample"][0][:3] == ["ann@example.com", "Ann", "Lee"]
    assert body["mode"] == "add_only"
    assert await stored_keys(app, account) == [
        f"workspaces/{account.workspace_id}/imports/{body['id']}/source"
    ]


async def test_the_address_column_is_found_by_its_content(
    client: httpx.AsyncClient, account: Account
) -> None:
    content = csv_bytes(
        [["Name", "Kontakt"], ["Ann", "ann@example.com"], ["Bob", "bob@example.com"]]
    )
    body = await uploaded(client, account, content)
    assert body["mapping"] == {"Name": "ignore", "Kontakt": "email"}


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
async def test_delimiters_are_sniffed(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
    delimiter: str,
) -> None:
    # Commas inside values must not fool the sniffer.
    rows = [["email", "first_name", "last_name"], ["ann@example.com", "Ann, Jr.", "Lee"]]
    rows += [[f"p{n}@example.com", f"P{n}", "1,5"] for n in range(5)]
    content = csv_bytes(rows, delimiter=delimiter)
    body = await uploaded(client, account, content)
    assert body["delimiter"] == delimiter
    assert body["columns"] == ["email", "first_name", "last_name"]
    await start(client, account, body["id"])
    from tests.contacts.exports.support import run_jobs

    await run_jobs(session, app.state.maily.settings, jobs)
    contacts = await contacts_of(session, account)
    assert contacts["ann@example.com"].first_name == "Ann, Jr."
    assert contacts["p1@example.com"].last_name == "1,5"


async def test_a_utf8_byte_order_mark_is_dropped(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    content = b"\xef\xbb\xbf" + csv_bytes([["email", "first_name"], ["zoe@example.com", "Zoë"]])
    body = await run_import(client, account, session, app.state.maily.settings, jobs, content)
    assert body["encoding"] == "utf-8-sig"
    assert body["columns"] == ["email", "first_name"]
    assert body["rows_created"] == 1
    assert (await contacts_of(session, account))["zoe@example.com"].first_name == "Zoë"


@pytest.mark.parametrize(
    ("content", "encoding", "last_name"),
    [
        # Windows-1252 ("ANSI" CSV from Excel): é is 0xE9, the euro sign 0x80.
        (
            "email;first_name;last_name\r\njose@example.com;José;€uro\r\n".encode("cp1252"),
            "cp1252",
            "€uro",
        ),
        # 0x81 is undefined in Windows-1252: only Latin-1 reads every byte.
        (
            b"email,first_name,last_name\r\njose@example.com,Jos\xe9,x\x81y\r\n",
            "latin-1",
            "x\x81y",
        ),
    ],
)
async def test_latin1_files_are_detected(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
    content: bytes,
    encoding: str,
    last_name: str,
) -> None:
    body = await run_import(client, account, session, app.state.maily.settings, jobs, content)
    assert body["encoding"] == encoding
    assert body["status"] == "completed", body["error"]
    contact = (await contacts_of(session, account))["jose@example.com"]
    assert contact.first_name == "José"
    assert contact.last_name == last_name


async def test_quoted_line_breaks_stay_in_their_field(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    content = (
        b'email,first_name,last_name\r\n"ann@example.com","Ann","Lee\r\nof ""Leeds"""\r\n'
        b"not-an-address,Bad,Row\r\n"
    )
    body = await run_import(client, account, session, app.state.maily.settings, jobs, content)
    assert body["rows_total"] == 2
    assert (await contacts_of(session, account))["ann@example.com"].last_name == (
        'Lee\r\nof "Leeds"'
    )
    # Rows as a spreadsheet numbers them: the record after the two-line one is row 3.
    report = await error_report(client, account, body["id"])
    assert [line[:2] for line in report[1:]] == [["3", "not-an-address"]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"  \r\n\r\n", "empty"),
        (b"email,first_name\r\n", "no contacts"),
        (csv_bytes([["name", "city"], ["Ann", "Oslo"], ["Bob", "Rome"]]), "no column holds email"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(200), "PNG image"),
        (b"PK\x03\x04" + os.urandom(200), "Excel workbook"),
        (bytes(range(256)) * 4, "binary data"),
        (b"\x01\x02\x03garbage\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f" * 20, "binary data"),
        ("email\r\nann@example.com\r\n".encode("utf-16"), "UTF-16"),
        (b'[{"email": "ann@example.com"}]', "JSON array"),
        (b'{"email": \n{"email": "ann@example.com"}\n', "line 1 is not valid JSON"),
        (b'{"email": "ann@example.com"}\n[1]\n2\n"x"\n', "not a JSON Lines file"),
    ],
)
async def test_unusable_files_are_refused_and_nothing_is_kept(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    content: bytes,
    message: str,
) -> None:
    response = await upload(client, account, content)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_import_file"
    assert message in error["message"]
    assert await stored_keys(app, account) == []
    assert await import_rows(session, account) == 0


async def test_a_file_over_the_size_limit_is_refused_with_nothing_kept(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.state.maily.settings.storage, "max_upload_bytes", 1000)
    rows = [["email"]] + [[f"person{n}@example.com"] for n in range(100)]
    response = await upload(client, account, csv_bytes(rows))
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "size limit of 1000 bytes" in error["message"]
    assert await stored_keys(app, account) == []
    assert await import_rows(session, account) == 0


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    client: httpx.AsyncClient, account: Account, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.maily.settings.storage, "max_upload_bytes", 1000)
    response = await client.post(
        f"{base(account)}/imports",
        headers={
            **account.headers,
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(10**9),
        },
        content=b"--x--\r\n",
    )
    assert response.status_code == 413


async def test_the_body_must_be_multipart_with_a_file_part(
    client: httpx.AsyncClient, account: Account
) -> None:
    url = f"{base(account)}/imports"
    response = await client.post(url, headers=account.headers, content=b"email\r\na@b.co\r\n")
    assert response.status_code == 415
    response = await client.post(url, headers=account.headers, data={"other": "value"}, files={})
    assert response.status_code in (400, 415)
    response = await client.post(
        url, headers=account.headers, files={"document": ("x.csv", b"email\r\na@example.com\r\n")}
    )
    assert response.status_code == 400
    assert "no part named 'file'" in response.json()["error"]["message"]
    response = await client.post(
        url,
        headers={**account.headers, "Content-Type": "multipart/form-data; boundary=zz"},
        content=b'--zz\r\nContent-Disposition: form-data; name="file"\r\n\r\nemail\r\na@b',
    )
    assert response.status_code == 400


async def test_json_lines_files_are_read_by_key(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    await add_field(client, account, "vip", "boolean")
    lines = [
        {"email": "ann@example.com", "first_name": "Ann", "tags": ["a", "b"], "vip": True},
        {"email": "bob@example.com", "last_name": "Ray", "vip": "no", "extra": {"x": 1}},
        "not an object",
        {"email": "cy@example.com", "first_name": "Cy\u0000"},
    ]
    content = "\n".join(json.dumps(line) for line in lines).encode() + b"\n\n"
    created = await uploaded(client, account, content, filename="contacts.jsonl")
    assert created["format"] == "jsonl"
    assert created["delimiter"] is None
    assert created["columns"] == ["email", "first_name", "tags", "vip", "last_name", "extra"]
    assert created["mapping"]["vip"] == "field:vip"
    assert created["mapping"]["tags"] == "tags"
    await start(client, account, created["id"])
    from tests.contacts.exports.support import run_jobs

    await run_jobs(session, app.state.maily.settings, jobs)
    contacts = await contacts_of(session, account)
    assert contacts["ann@example.com"].tags == ["a", "b"]
    assert contacts["ann@example.com"].fields == {"vip": True}
    assert contacts["bob@example.com"].fields == {"vip": False}
    assert contacts["cy@example.com"].first_name == "Cy"
    report = await error_report(client, account, created["id"])
    assert report[1] == ["3", '"not an object"', "not a JSON object"]


async def test_the_mapping_is_checked_when_changed(
    client: httpx.AsyncClient, account: Account, jobs: RecordingQueue
) -> None:
    content = csv_bytes([["email", "name", "work email"], ["a@example.com", "A", "b@example.com"]])
    created = await uploaded(client, account, content)
    url = f"{base(account)}/imports/{created['id']}"

    async def refused(body: dict[str, Any], status: int, text: str) -> None:
        response = await client.patch(url, headers=account.headers, json=body)
        assert response.status_code == status, response.text
        assert text in response.json()["error"]["message"]

    await refused({"mapping": {"nope": "email"}}, 422, "no column named 'nope'")
    await refused({"mapping": {"email": "ignore"}}, 422, "no column is mapped to email")
    await refused({"mapping": {"email": "email", "work email": "email"}}, 422, "both map to email")
    await refused({"mapping": {"email": "email", "name": "field:nope"}}, 422, "no custom field")
    await refused({"mapping": {"email": "email", "name": "phone"}}, 422, "unknown target")
    await refused({"list_ids": ["00000000-0000-7000-8000-000000000000"]}, 404, "list not found")

    list_id = await add_list(client, account)
    body = await configure(
        client,
        account,
        created["id"],
        mapping={"work email": "email", "name": "first_name"},
        mode="update_existing",
        list_ids=[list_id, list_id],
        tags=["webinar", "webinar", " 2024 "],
    )
    assert body["mapping"] == {"email": "ignore", "name": "first_name", "work email": "email"}
    assert body["mode"] == "update_existing"
    assert body["list_ids"] == [list_id]
    assert body["tags"] == ["webinar", "2024"]

    await start(client, account, created["id"])
    await refused({"mode": "skip_existing"}, 409, "only a new one can change")
    response = await client.post(f"{url}/start", headers=account.headers)
    assert response.status_code == 409
