"""The import job's life: progress while it runs, cancellation at every stage, retries."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from maily.contacts.imports.job import ImportJob
from maily.contacts.imports.progress import ProgressStore, Snapshot
from maily.contacts.imports.repository import ImportRepository, StagingRepository
from maily.kit.db import AsyncSession
from maily.kit.storage import LocalObjectStorage
from maily.models import Contact
from maily.workers.registry import load_domain_tasks
from tests.conftest import Account
from tests.contacts.exports.support import RecordingQueue, run_jobs
from tests.contacts.imports.support import (
    base,
    csv_bytes,
    fetch,
    start,
    uploaded,
)

Hook = Callable[[uuid.UUID, Snapshot], Awaitable[None]]


class WatchedProgress(ProgressStore):
    """The real store, keeping a copy of every snapshot and calling `hook` after each."""

    def __init__(self, redis: Redis, hook: Hook | None = None) -> None:
        super().__init__(redis)
        self.snapshots: list[Snapshot] = []
        self.hook = hook

    async def publish(self, import_id: uuid.UUID, snapshot: Snapshot) -> None:
        await super().publish(import_id, snapshot)
        self.snapshots.append(replace(snapshot))
        if self.hook is not None:
            await self.hook(import_id, snapshot)


ROWS = [["email", "first_name"]] + [[f"p{n}@example.com", f"P{n}"] for n in range(9)]


async def queued_import(client: httpx.AsyncClient, account: Account, **changes: Any) -> uuid.UUID:
    created = await uploaded(client, account, csv_bytes([*ROWS, ["not-an-address", ""]]))
    if changes:
        response = await client.patch(
            f"{base(account)}/imports/{created['id']}", headers=account.headers, json=changes
        )
        assert response.status_code == 200
    await start(client, account, created["id"])
    return uuid.UUID(created["id"])


async def contact_count(session: AsyncSession, account: Account) -> int:
    query = select(Contact.id).where(Contact.workspace_id == account.workspace_id)
    return len((await session.execute(query)).all())


def job(session: AsyncSession, app: Any, progress: ProgressStore) -> ImportJob:
    return ImportJob(session, app.state.maily.storage, progress, batch_rows=3)


async def test_progress_is_readable_while_the_job_runs(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    redis: Redis,
    jobs: RecordingQueue,
) -> None:
    import_id = await queued_import(client, account)
    seen_by_api: list[dict[str, Any]] = []

    async def look(_: uuid.UUID, snapshot: Snapshot) -> None:
        if snapshot.phase == "reading" and snapshot.rows == 6:
            seen_by_api.append(await fetch(client, account, str(import_id)))

    progress = WatchedProgress(redis, look)
    await job(session, app, progress).run(account.workspace_id, import_id, final_attempt=True)

    # Mid-run, the row still said "queued" (the job's transaction was open), yet the
    # API answered from Redis.
    (mid,) = seen_by_api
    assert mid["status"] == "running"
    assert mid["rows_processed"] == 6
    assert mid["rows_created"] == 0
    assert mid["progress"]["phase"] == "reading"
    assert 0 < mid["progress"]["percent"] <= 20
    assert 0 < mid["progress"]["bytes_read"] < mid["size_bytes"] + 1

    phases = [s.phase for s in progress.snapshots]
    assert phases == ["reading"] * 5 + ["merging", "reporting", "done"]
    rows = [s.rows for s in progress.snapshots[:5]]
    assert rows == [0, 3, 6, 9, 10]
    done = await fetch(client, account, str(import_id))
    assert done["status"] == "completed"
    assert (done["rows_total"], done["rows_created"], done["rows_invalid"]) == (10, 9, 1)
    assert done["progress"]["phase"] == "done"
    assert done["progress"]["percent"] == 100
    assert done["progress"]["rows_per_second"] > 0


async def test_cancelling_a_queued_import_stops_it_before_it_runs(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    jobs: RecordingQueue,
) -> None:
    import_id = await queued_import(client, account)
    url = f"{base(account)}/imports/{import_id}/cancel"
    response = await client.post(url, headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None
    assert await run_jobs(session, app.state.maily.settings, jobs) == [
        "contacts.import",
        "contacts.import_discard_file",
    ]
    assert (await fetch(client, account, str(import_id)))["status"] == "cancelled"
    assert await contact_count(session, account) == 0
    key = f"workspaces/{account.workspace_id}/imports/{import_id}/source"
    assert await app.state.maily.storage.stat(key) is None
    response = await client.post(url, headers=account.headers)
    assert response.status_code == 409


async def test_a_cancel_while_reading_keeps_nothing(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    redis: Redis,
    jobs: RecordingQueue,
) -> None:
    list_id = (
        await client.post(f"{base(account)}/lists", headers=account.headers, json={"name": "L"})
    ).json()["id"]
    import_id = await queued_import(client, account, list_ids=[list_id], tags=["t"])

    async def cancel_after_first_batch(import_id: uuid.UUID, snapshot: Snapshot) -> None:
        if snapshot.rows == 3:
            await ProgressStore(redis).request_cancel(import_id)

    progress = WatchedProgress(redis, cancel_after_first_batch)
    await job(session, app, progress).run(account.workspace_id, import_id, final_attempt=True)
    assert [s.phase for s in progress.snapshots][-1] == "done"
    assert progress.snapshots[-1].status == "cancelled"
    assert progress.snapshots[-1].rows == 3  # it stopped at the next batch
    result = await fetch(client, account, str(import_id))
    assert result["status"] == "cancelled"
    assert result["has_error_report"] is False
    assert await contact_count(session, account) == 0


@pytest.mark.parametrize("how", ["flag", "row"])
async def test_a_cancel_during_the_merge_rolls_it_back(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    redis: Redis,
    jobs: RecordingQueue,
    how: str,
) -> None:
    import_id = await queued_import(client, account)

    async def cancel_while_merging(import_id: uuid.UUID, snapshot: Snapshot) -> None:
        if snapshot.phase != "merging":
            return
        if how == "flag":
            await ProgressStore(redis).request_cancel(import_id)
        else:
            # What a cancel request committed while the merge ran looks like to the
            # job's final compare-and-set.
            await ImportRepository(session).transition(
                account.workspace_id,
                import_id,
                from_statuses=("queued",),
                values={"status": "cancelled"},
            )

    await job(session, app, WatchedProgress(redis, cancel_while_merging)).run(
        account.workspace_id, import_id, final_attempt=True
    )
    assert (await fetch(client, account, str(import_id)))["status"] == "cancelled"
    assert await contact_count(session, account) == 0
    report = f"workspaces/{account.workspace_id}/imports/{import_id}/errors.csv"
    assert await app.state.maily.storage.stat(report) is None


async def test_an_unexpected_error_is_retried_then_recorded(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    redis: Redis,
    jobs: RecordingQueue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import_id = await queued_import(client, account)

    async def broken_merge(self: StagingRepository, *args: Any) -> None:
        raise RuntimeError("connection lost")

    monkeypatch.setattr(StagingRepository, "merge", broken_merge)
    progress = WatchedProgress(redis)
    with pytest.raises(RuntimeError):
        await job(session, app, progress).run(account.workspace_id, import_id, final_attempt=False)
    assert (await fetch(client, account, str(import_id)))["status"] in ("queued", "running")

    await job(session, app, progress).run(account.workspace_id, import_id, final_attempt=True)
    result = await fetch(client, account, str(import_id))
    assert result["status"] == "failed"
    assert result["error"] == "the import failed; the server log has the details"
    assert await contact_count(session, account) == 0


async def test_running_a_finished_import_again_does_nothing(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    redis: Redis,
    jobs: RecordingQueue,
) -> None:
    import_id = await queued_import(client, account)
    progress = WatchedProgress(redis)
    await job(session, app, progress).run(account.workspace_id, import_id, final_attempt=True)
    published = len(progress.snapshots)
    await job(session, app, progress).run(account.workspace_id, import_id, final_attempt=True)
    assert len(progress.snapshots) == published
    assert await contact_count(session, account) == 9


def test_the_worker_finds_the_import_tasks() -> None:
    registry = load_domain_tasks()
    assert registry.get("contacts.import") is not None
    assert registry.get("contacts.import_discard_file") is not None


class RemoteLike(LocalObjectStorage):
    """The local backend pretending to be a remote one: no local paths."""

    def local_path(self, key: str) -> Path | None:
        return None


async def test_a_file_on_a_remote_store_is_fetched_before_reading(
    client: httpx.AsyncClient,
    account: Account,
    session: AsyncSession,
    app: Any,
    redis: Redis,
    jobs: RecordingQueue,
) -> None:
    import_id = await queued_import(client, account)
    remote = RemoteLike(app.state.maily.storage.root)
    await ImportJob(session, remote, WatchedProgress(redis)).run(
        account.workspace_id, import_id, final_attempt=True
    )
    result = await fetch(client, account, str(import_id))
    assert result["status"] == "completed", result["error"]
    assert result["rows_created"] == 9
