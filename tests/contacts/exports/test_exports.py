"""Contact exports: request, background job, file content, download and audit."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from maily.contacts.exports.service import ExportService
from maily.kit.db import AsyncSession
from maily.kit.storage import LocalObjectStorage, StoredObject
from maily.models import AuditEntry, Contact, ContactExport
from maily.workers.registry import load_domain_tasks
from tests.conftest import Account
from tests.contacts.exports.support import RecordingQueue, run_jobs


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


async def request_export(
    client: httpx.AsyncClient, account: Account, **body: Any
) -> dict[str, Any]:
    response = await client.post(f"{base(account)}/exports", headers=account.headers, json=body)
    assert response.status_code == 202, response.text
    export: dict[str, Any] = response.json()
    assert export["status"] == "queued"
    return export


async def finished(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
    export: dict[str, Any],
) -> dict[str, Any]:
    assert await run_jobs(session, app.state.maily.settings, jobs) == ["contacts.export"]
    response = await client.get(f"{base(account)}/exports/{export['id']}", headers=account.headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def download(client: httpx.AsyncClient, account: Account, export_id: str) -> httpx.Response:
    response = await client.get(
        f"{base(account)}/exports/{export_id}/download", headers=account.headers
    )
    assert response.status_code == 200, response.text
    return response


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


async def test_export_of_all_contacts_to_csv_with_chosen_fields(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    h = account.headers
    field = await client.post(
        f"{base(account)}/fields", headers=h, json={"key": "plan", "label": "Plan", "type": "text"}
    )
    assert field.status_code == 201
    await add_contact(client, account, "ann@example.com", first_name="Ann", tags=["vip", "b"])
    await add_contact(
        client,
        account,
        "bob@example.com",
        first_name='=HYPERLINK("http://evil.example","click")',
        fields={"plan": "-1+cmd"},
    )
    await add_contact(client, account, "cy@example.com", last_name="@Cy", tags=["+x"])
    export = await request_export(
        client,
        account,
        source="all",
        format="csv",
        fields=["email", "first_name", "last_name", "fields.plan", "tags"],
    )
    assert export["fields"] == ["email", "first_name", "last_name", "fields.plan", "tags"]

    done = await finished(client, account, session, app, jobs, export)
    assert (done["status"], done["rows"], done["error"]) == ("completed", 3, None)
    assert done["finished_at"] is not None

    response = await download(client, account, export["id"])
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["content-disposition"].endswith('.csv"')
    assert read_csv(response.content) == [
        ["email", "first_name", "last_name", "fields.plan", "tags"],
        ["ann@example.com", "Ann", "", "", "vip, b"],
        ["bob@example.com", '\'=HYPERLINK("http://evil.example","click")', "", "'-1+cmd", ""],
        ["cy@example.com", "", "'@Cy", "", "'+x"],
    ]


async def test_csv_escapes_every_formula_prefix_in_every_column(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    await client.post(
        f"{base(account)}/fields",
        headers=account.headers,
        json={"key": "note", "label": "Note", "type": "text"},
    )
    # Stored as they are: the API trims names and tags, an import or a migration may not.
    prefixes = ["=", "+", "-", "@", "\t", "\r"]
    for index, prefix in enumerate(prefixes):
        session.add(
            Contact(
                workspace_id=account.workspace_id,
                email=f"p{index}@example.com",
                first_name=f"{prefix}first",
                last_name=f"{prefix}last",
                fields={"note": f"{prefix}1+1"},
                tags=[f"{prefix}tag"],
                locale=f"{prefix}de",
            )
        )
    await session.flush()
    export = await request_export(
        client,
        account,
        fields=["email", "first_name", "last_name", "fields.note", "tags", "locale"],
    )
    await finished(client, account, session, app, jobs, export)
    rows = read_csv((await download(client, account, export["id"])).content)[1:]
    assert sorted(rows) == sorted(
        [
            f"p{index}@example.com",
            f"'{prefix}first",
            f"'{prefix}last",
            f"'{prefix}1+1",
            f"'{prefix}tag",
            f"'{prefix}de",
        ]
        for index, prefix in enumerate(prefixes)
    )


async def test_export_of_a_list_to_json_lines_with_list_status(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    h = account.headers
    newsletter = (await client.post(f"{base(account)}/lists", headers=h, json={"name": "N"})).json()
    other = (await client.post(f"{base(account)}/lists", headers=h, json={"name": "O"})).json()
    ann = await add_contact(
        client, account, "ann@example.com", list_ids=[newsletter["id"], other["id"]]
    )
    bob = await add_contact(
        client, account, "bob@example.com", first_name="=1+2", list_ids=[newsletter["id"]]
    )
    await add_contact(client, account, "outsider@example.com", list_ids=[other["id"]])
    left = await client.post(
        f"{base(account)}/contacts/bulk",
        headers=h,
        json={
            "action": "remove_from_list",
            "list_id": newsletter["id"],
            "selection": {"contact_ids": [bob["id"]]},
        },
    )
    assert left.status_code == 200, left.text

    export = await request_export(
        client,
        account,
        source="list",
        source_id=newsletter["id"],
        format="jsonl",
        fields=["id", "email", "first_name", "list_status", "lists", "tags", "created_at"],
    )
    done = await finished(client, account, session, app, jobs, export)
    assert (done["status"], done["rows"]) == ("completed", 2)

    response = await download(client, account, export["id"])
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.content.decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["email"] for r in records] == ["ann@example.com", "bob@example.com"]
    first, second = records
    assert list(first) == [
        "id",
        "email",
        "first_name",
        "list_status",
        "lists",
        "tags",
        "created_at",
    ]
    assert first["id"] == ann["id"]
    assert first["list_status"] == "subscribed"
    assert first["lists"] == {newsletter["id"]: "subscribed", other["id"]: "subscribed"}
    assert first["tags"] == []
    assert first["created_at"].startswith("20")
    # Only CSV is escaped: JSON Lines is read by programs, and keeps values exact.
    assert second["first_name"] == "=1+2"
    assert second["list_status"] == "unsubscribed"
    assert second["lists"] == {newsletter["id"]: "unsubscribed"}


async def test_export_of_a_saved_segment(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    await add_contact(client, account, "vip1@example.com", tags=["vip"])
    await add_contact(client, account, "plain@example.com")
    await add_contact(client, account, "vip2@example.com", tags=["vip", "x"])
    segment = await create_vip_segment(client, account)
    export = await request_export(
        client, account, source="segment", source_id=segment, fields=["email"]
    )
    done = await finished(client, account, session, app, jobs, export)
    assert (done["status"], done["rows"]) == ("completed", 2)
    rows = read_csv((await download(client, account, export["id"])).content)
    assert sorted(rows[1:]) == [["vip1@example.com"], ["vip2@example.com"]]


async def create_vip_segment(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post(
        f"{base(account)}/segments",
        headers=account.headers,
        json={"name": "VIPs", "rules": VIP_RULES},
    )
    assert response.status_code == 201, response.text
    segment_id: str = response.json()["id"]
    return segment_id


VIP_RULES: dict[str, Any] = {"field": "email", "op": "starts_with", "value": "vip"}


async def test_request_is_validated(client: httpx.AsyncClient, account: Account) -> None:
    url = f"{base(account)}/exports"
    h = account.headers

    async def status_of(body: dict[str, Any]) -> int:
        return (await client.post(url, headers=h, json=body)).status_code

    assert await status_of({"fields": ["email", "nickname"]}) == 422
    assert await status_of({"fields": ["fields.unknown"]}) == 422
    assert await status_of({"fields": ["email", "email"]}) == 422
    assert await status_of({"fields": []}) == 422
    assert await status_of({"fields": ["list_status"]}) == 422  # only lists have one
    assert await status_of({"source": "list"}) == 422
    assert await status_of({"source": "all", "source_id": str(uuid.uuid4())}) == 422
    assert await status_of({"format": "xlsx"}) == 422
    assert await status_of({"source": "list", "source_id": str(uuid.uuid4())}) == 404
    assert await status_of({"source": "segment", "source_id": str(uuid.uuid4())}) == 404


async def test_download_waits_for_completion_and_needs_the_permission(
    client: httpx.AsyncClient, account: Account, jobs: RecordingQueue
) -> None:
    export = await request_export(client, account)
    url = f"{base(account)}/exports/{export['id']}/download"
    early = await client.get(url, headers=account.headers)
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "conflict"
    missing = await client.get(
        f"{base(account)}/exports/{uuid.uuid4()}/download", headers=account.headers
    )
    assert missing.status_code == 404

    key = await client.post(
        f"{base(account)}/api-keys",
        headers=account.headers,
        json={"name": "reader", "permissions": ["contacts:read"]},
    )
    reader = {"Authorization": f"Bearer {key.json()['key']}"}
    assert (await client.get(url, headers=reader)).status_code == 403
    assert (
        await client.post(f"{base(account)}/exports", headers=reader, json={})
    ).status_code == 403
    assert (await client.get(f"{base(account)}/exports", headers=reader)).status_code == 403


async def test_request_and_every_download_are_audited(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    await add_contact(client, account, "ann@example.com")
    export = await request_export(client, account, fields=["email"])
    await finished(client, account, session, app, jobs, export)
    await download(client, account, export["id"])
    await download(client, account, export["id"])

    entries = (
        await session.execute(
            select(AuditEntry)
            .where(
                AuditEntry.workspace_id == account.workspace_id,
                AuditEntry.target_id == uuid.UUID(export["id"]),
            )
            .order_by(AuditEntry.id)
        )
    ).scalars()
    assert [(e.action, e.actor, e.target_type) for e in entries] == [
        ("contact_export.requested", f"user:{account.user_id}", "contact_export"),
        ("contact_export.downloaded", f"user:{account.user_id}", "contact_export"),
        ("contact_export.downloaded", f"user:{account.user_id}", "contact_export"),
    ]


async def test_list_newest_first_with_cursor(
    client: httpx.AsyncClient, account: Account, jobs: RecordingQueue
) -> None:
    ids = [(await request_export(client, account))["id"] for _ in range(3)]
    url = f"{base(account)}/exports"
    first = (await client.get(url, headers=account.headers, params={"limit": 2})).json()
    assert [e["id"] for e in first["items"]] == ids[::-1][:2]
    rest = (
        await client.get(
            url, headers=account.headers, params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert [e["id"] for e in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None


async def test_a_deleted_list_fails_the_export_with_a_reason(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    h = account.headers
    mailing_list = (
        await client.post(f"{base(account)}/lists", headers=h, json={"name": "N"})
    ).json()
    export = await request_export(client, account, source="list", source_id=mailing_list["id"])
    assert (
        await client.delete(f"{base(account)}/lists/{mailing_list['id']}", headers=h)
    ).status_code == 204
    done = await finished(client, account, session, app, jobs, export)
    assert done["status"] == "failed"
    assert "deleted" in done["error"]
    assert (
        await client.get(f"{base(account)}/exports/{export['id']}/download", headers=h)
    ).status_code == 409


async def test_a_segment_gone_out_of_date_fails_the_export_with_a_reason(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    h = account.headers
    field = await client.post(
        f"{base(account)}/fields", headers=h, json={"key": "plan", "label": "Plan", "type": "text"}
    )
    segment = await client.post(
        f"{base(account)}/segments",
        headers=h,
        json={"name": "Pro", "rules": {"custom_field": "plan", "op": "eq", "value": "pro"}},
    )
    assert segment.status_code == 201, segment.text
    export = await request_export(client, account, source="segment", source_id=segment.json()["id"])
    deleted = await client.delete(f"{base(account)}/fields/{field.json()['id']}", headers=h)
    assert deleted.status_code == 204
    done = await finished(client, account, session, app, jobs, export)
    assert done["status"] == "failed"
    assert done["error"].startswith("the segment cannot be used")


# -- the job, directly ---------------------------------------------------------------


class RecordingStorage(LocalObjectStorage):
    """Local storage that notes the size of every chunk it is handed."""

    def __init__(self, root: Path, *, fail: bool = False) -> None:
        super().__init__(root)
        self.chunks: list[bytes] = []
        self.fail = fail

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> StoredObject:
        async def noted() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                self.chunks.append(chunk)
                yield chunk
                if self.fail:
                    raise OSError("disk full")

        return await super().put_stream(
            key, noted(), content_type=content_type, max_bytes=max_bytes
        )


async def _queued_export(
    client: httpx.AsyncClient, account: Account, jobs: RecordingQueue, **body: Any
) -> tuple[uuid.UUID, uuid.UUID]:
    export = await request_export(client, account, **body)
    jobs.take()
    return account.workspace_id, uuid.UUID(export["id"])


async def test_contacts_are_streamed_in_batches_each_written_as_one_chunk(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    jobs: RecordingQueue,
    tmp_path: Path,
) -> None:
    created = [
        (await add_contact(client, account, f"c{i:02d}@example.com", first_name=f"N{i}"))["id"]
        for i in range(30)
    ]
    workspace_id, export_id = await _queued_export(
        client, account, jobs, fields=["id", "email", "first_name"]
    )
    storage = RecordingStorage(tmp_path)
    await ExportService(session).run(
        workspace_id, export_id, storage, final_attempt=False, batch_size=7
    )

    export = await session.get(ContactExport, (workspace_id, export_id))
    assert export is not None
    assert (export.status, export.rows) == ("completed", 30)
    # The header, then ceil(30 / 7) = 5 batches: never more than 7 contacts at once.
    assert len(storage.chunks) == 6
    batches = [read_csv(chunk) for chunk in storage.chunks]
    assert batches[0] == [["id", "email", "first_name"]]
    assert [len(b) for b in batches[1:]] == [7, 7, 7, 7, 2]
    assert export.object_key is not None
    written = read_csv(await storage.get_bytes(export.object_key))
    assert written == [row for batch in batches for row in batch]
    # Every contact once, in id order, no row split across chunks.
    assert [row[0] for row in written[1:]] == sorted(created)
    assert sorted(row[1] for row in written[1:]) == [f"c{i:02d}@example.com" for i in range(30)]


async def test_a_failing_run_is_retried_and_the_last_attempt_records_the_failure(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    jobs: RecordingQueue,
    tmp_path: Path,
) -> None:
    await add_contact(client, account, "ann@example.com")
    workspace_id, export_id = await _queued_export(client, account, jobs)
    service = ExportService(session)
    with pytest.raises(OSError, match="disk full"):
        await service.run(
            workspace_id, export_id, RecordingStorage(tmp_path, fail=True), final_attempt=False
        )
    export = await session.get(ContactExport, (workspace_id, export_id))
    assert export is not None
    assert export.status == "queued"

    await service.run(
        workspace_id, export_id, RecordingStorage(tmp_path, fail=True), final_attempt=True
    )
    await session.refresh(export)
    assert export.status == "failed"
    assert export.error is not None
    assert "server log" in export.error
    assert export.object_key is None
    assert not list(tmp_path.rglob("*.csv"))  # nothing half-written is kept


async def test_a_finished_export_is_not_run_again(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    jobs: RecordingQueue,
    tmp_path: Path,
) -> None:
    await add_contact(client, account, "ann@example.com")
    workspace_id, export_id = await _queued_export(client, account, jobs)
    service = ExportService(session)
    first = RecordingStorage(tmp_path)
    await service.run(workspace_id, export_id, first, final_attempt=False)
    again = RecordingStorage(tmp_path)
    await service.run(workspace_id, export_id, again, final_attempt=False)
    assert first.chunks
    assert again.chunks == []


def test_the_worker_finds_the_export_job() -> None:
    assert "contacts.export" in load_domain_tasks().tasks
