"""Uploading files and running imports through the API, as the tests need them."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx

from maily.config import Settings
from maily.kit.db import AsyncSession
from tests.conftest import Account
from tests.contacts.exports.support import RecordingQueue, run_jobs


def base(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}"


def csv_bytes(rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


async def upload(
    client: httpx.AsyncClient, account: Account, content: bytes, filename: str = "contacts.csv"
) -> httpx.Response:
    return await client.post(
        f"{base(account)}/imports",
        headers=account.headers,
        files={"file": (filename, content, "text/csv")},
    )


async def uploaded(
    client: httpx.AsyncClient, account: Account, content: bytes, filename: str = "contacts.csv"
) -> dict[str, Any]:
    response = await upload(client, account, content, filename)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def configure(
    client: httpx.AsyncClient, account: Account, import_id: str, **changes: Any
) -> dict[str, Any]:
    response = await client.patch(
        f"{base(account)}/imports/{import_id}", headers=account.headers, json=changes
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def start(client: httpx.AsyncClient, account: Account, import_id: str) -> dict[str, Any]:
    response = await client.post(
        f"{base(account)}/imports/{import_id}/start", headers=account.headers
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def fetch(client: httpx.AsyncClient, account: Account, import_id: str) -> dict[str, Any]:
    response = await client.get(f"{base(account)}/imports/{import_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def run_import(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    settings: Settings,
    jobs: RecordingQueue,
    content: bytes,
    *,
    filename: str = "contacts.csv",
    **changes: Any,
) -> dict[str, Any]:
    """Upload, configure, start and run an import; its final state."""
    created = await uploaded(client, account, content, filename)
    if changes:
        await configure(client, account, created["id"], **changes)
    await start(client, account, created["id"])
    ran = await run_jobs(session, settings, jobs)
    assert ran[0] == "contacts.import", ran
    return await fetch(client, account, created["id"])


async def error_report(
    client: httpx.AsyncClient, account: Account, import_id: str
) -> list[list[str]]:
    response = await client.get(
        f"{base(account)}/imports/{import_id}/errors", headers=account.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


async def add_field(
    client: httpx.AsyncClient, account: Account, key: str, type_: str, **extra: Any
) -> None:
    response = await client.post(
        f"{base(account)}/fields",
        headers=account.headers,
        json={"key": key, "label": extra.pop("label", key.title()), "type": type_, **extra},
    )
    assert response.status_code == 201, response.text


async def add_list(client: httpx.AsyncClient, account: Account, **body: Any) -> str:
    response = await client.post(
        f"{base(account)}/lists", headers=account.headers, json={"name": "List", **body}
    )
    assert response.status_code == 201, response.text
    list_id: str = response.json()["id"]
    return list_id


async def add_contact(
    client: httpx.AsyncClient, account: Account, email: str, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{base(account)}/contacts", headers=account.headers, json={"email": email, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def unique_email(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
