"""The import job: read the stored file, stage its rows by COPY, merge them at the end.

Everything the job writes happens in its one transaction, inside a savepoint: a bad
file, a cancel or a crash leaves the workspace as it was. Progress goes to Redis,
since nobody can see the transaction until it commits."""

from __future__ import annotations

import asyncio
import gc
import logging
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path

from maily.contacts.imports.mapping import InvalidMapping, plan_columns
from maily.contacts.imports.parsing import (
    BATCH_ROWS,
    Batch,
    FileReader,
    Problem,
    RowChecker,
    StageRecord,
    UnreadableRow,
)
from maily.contacts.imports.progress import ProgressStore, Snapshot
from maily.contacts.imports.report import ErrorReport
from maily.contacts.imports.repository import ImportRepository, StagingRepository
from maily.contacts.imports.service import DISCARD_TASK, report_key
from maily.contacts.repository import CustomFieldRepository, ListRepository
from maily.kit.db import AsyncSession
from maily.kit.storage import ObjectNotFound, ObjectStorage
from maily.models import ContactImport

__all__ = ["ImportBusy", "ImportJob", "discard_source"]

logger = logging.getLogger(__name__)

# The report is Maily's own output, bounded by the file: only a sanity cap applies.
REPORT_MAX_BYTES = 16 * 1024**3


class ImportBusy(Exception):
    """Another run of the same import holds its lock; this one is retried later."""


class _Cancelled(Exception):
    pass


class _Failed(Exception):
    """The import cannot be done; the message is for the person who started it."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _collection_paused() -> Iterator[None]:
    """No garbage collection while a batch is parsed: its tens of thousands of fresh
    lists all live until the batch is done, so collecting would only walk them (this
    alone took a third of the parsing time). Nothing else runs meanwhile: no await."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ImportJob:
    def __init__(
        self,
        session: AsyncSession,
        storage: ObjectStorage,
        progress: ProgressStore,
        *,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.session = session
        self.storage = storage
        self.progress = progress
        self.batch_rows = batch_rows
        self.imports = ImportRepository(session)

    async def run(
        self, workspace_id: uuid.UUID, import_id: uuid.UUID, *, final_attempt: bool
    ) -> None:
        """Do a queued import and record its outcome. Safe to run twice: only a queued
        import is done, and all of its effects commit together with its outcome."""
        record = await self.imports.get(workspace_id, import_id)
        if record is None or record.status != "queued":
            return  # gone with its workspace, cancelled before it ran, or done already
        if not await self.imports.try_lock_run(import_id):
            raise ImportBusy(f"import {import_id} is being run by another worker")
        snapshot = Snapshot(bytes_total=record.size_bytes, started_at=time.time())
        started_at = utcnow()
        await self.progress.publish(import_id, snapshot)
        try:
            # A savepoint, so a failed statement still leaves the transaction able to
            # record the failure, and a cancel can drop everything staged and merged.
            async with self.session.begin_nested():
                await self._import(record, snapshot, started_at)
        # From here on `record` is not touched: the rollback of the savepoint expired it.
        except _Cancelled:
            await self._finish_unsuccessful(workspace_id, import_id, snapshot, "cancelled", None)
        except _Failed as exc:
            await self._finish_unsuccessful(workspace_id, import_id, snapshot, "failed", str(exc))
        except Exception:
            if not final_attempt:
                raise  # the job is retried; nothing of this run was kept
            logger.exception("contact import %s failed on its last attempt", import_id)
            await self._finish_unsuccessful(
                workspace_id,
                import_id,
                snapshot,
                "failed",
                "the import failed; the server log has the details",
            )
        self.session.jobs.enqueue(
            DISCARD_TASK,
            key=f"{DISCARD_TASK}:{import_id}",
            workspace_id=str(workspace_id),
            import_id=str(import_id),
        )

    async def _finish_unsuccessful(
        self,
        workspace_id: uuid.UUID,
        import_id: uuid.UUID,
        snapshot: Snapshot,
        status: str,
        error: str | None,
    ) -> None:
        await self.storage.delete(report_key(workspace_id, import_id))
        # A cancel request has set the row already; a failure is recorded unless a
        # cancel came first.
        await self.imports.transition(
            workspace_id,
            import_id,
            from_statuses=("queued",),
            values={"status": status, "error": error, "finished_at": utcnow()},
        )
        snapshot.status = status
        snapshot.phase = "done"
        snapshot.finished_at = time.time()
        await self.progress.publish(import_id, snapshot)

    # -- the import -----------------------------------------------------------------

    async def _import(
        self, record: ContactImport, snapshot: Snapshot, started_at: datetime
    ) -> None:
        workspace_id = record.workspace_id
        specs = await CustomFieldRepository(self.session).specs(workspace_id)
        try:
            plan = plan_columns(record.columns, record.mapping, specs)
        except InvalidMapping as exc:
            raise _Failed(str(exc)) from exc
        if record.list_ids:
            existing = await ListRepository(self.session).existing_ids(
                workspace_id, record.list_ids
            )
            if set(record.list_ids) - existing:
                raise _Failed("a list chosen for the import was deleted before it ran")

        stage = StagingRepository(self.session, workspace_id)
        checker = RowChecker(plan, record.tags)
        report = ErrorReport()
        try:
            async with self._local_copy(record.object_key) as path:
                reader = FileReader(
                    path,
                    format=record.format,
                    encoding=record.encoding or "utf-8",
                    delimiter=record.delimiter,
                    columns=record.columns,
                    batch_rows=self.batch_rows,
                )
                await self._stage(record, reader, checker, stage, report, snapshot)
            tally = checker.tally
            if tally.rows == 0:
                raise _Failed("the file has no contact rows")

            snapshot.phase = "merging"
            await self.progress.publish(record.id, snapshot)
            await stage.analyze_stage()
            only_new = record.mode == "skip_existing"
            if only_new and record.list_ids:
                await stage.mark_existing()
            counts = await stage.merge(record.mode, record.tags)
            snapshot.created = counts.created
            # add_only may add the import's tags to existing contacts, but their details
            # stay as they were: they count as skipped, as the mode's docs say.
            snapshot.updated = counts.updated if record.mode == "update_existing" else 0
            snapshot.skipped = tally.staged - snapshot.created - snapshot.updated
            # The merge is the long part: a cancel during it is honoured here.
            if await self.progress.cancel_requested(record.id):
                raise _Cancelled
            if record.list_ids:
                snapshot.phase = "subscribing"
                await self.progress.publish(record.id, snapshot)
                snapshot.subscribed = await stage.subscribe(record.list_ids, only_new=only_new)
            await stage.drop_stage()

            error_report = None
            if report.lines:
                snapshot.phase = "reporting"
                await self.progress.publish(record.id, snapshot)
                error_report = report_key(workspace_id, record.id)
                await self.storage.put_stream(
                    error_report,
                    report.chunks(),
                    content_type="text/csv; charset=utf-8",
                    max_bytes=REPORT_MAX_BYTES,
                )
        finally:
            report.close()

        finished = await self.imports.transition(
            workspace_id,
            record.id,
            from_statuses=("queued",),
            values={
                "status": "completed",
                "rows_total": tally.rows,
                "rows_processed": tally.rows,
                "rows_created": snapshot.created,
                "rows_updated": snapshot.updated,
                "rows_skipped": snapshot.skipped,
                "rows_invalid": tally.invalid,
                "rows_duplicate": snapshot.duplicates,
                "rows_role": snapshot.role,
                "rows_suppressed": snapshot.suppressed,
                "subscriptions": snapshot.subscribed,
                "error_report_key": error_report,
                "error": None,
                "started_at": started_at,
                "finished_at": utcnow(),
            },
        )
        if not finished:
            raise _Cancelled  # cancelled while the merge ran: roll it all back
        snapshot.status = "completed"
        snapshot.phase = "done"
        snapshot.finished_at = time.time()
        await self.progress.publish(record.id, snapshot)

    async def _stage(
        self,
        record: ContactImport,
        reader: FileReader,
        checker: RowChecker,
        stage: StagingRepository,
        report: ErrorReport,
        snapshot: Snapshot,
    ) -> None:
        """Read, check and COPY the file batch by batch; publish progress and look for
        a cancel request after each."""
        await stage.create_stage()
        check_suppressions = await stage.has_suppressions()
        batches = reader.batches()
        tally = checker.tally
        while True:
            with _collection_paused():
                try:
                    batch: Batch | None = next(batches, None)
                except UnreadableRow as exc:
                    raise _Failed(str(exc)) from exc
                if batch is None:
                    break
                records, problems = checker.check(batch)
            if check_suppressions and records:
                snapshot.suppressed += await self._flag_suppressed(stage, records, problems)
            report.add(problems)
            await stage.copy(records)

            snapshot.bytes_read = batch.position
            snapshot.rows = tally.rows
            snapshot.invalid = tally.invalid
            snapshot.duplicates = tally.duplicates
            snapshot.role = tally.role
            snapshot.warnings = tally.warnings
            await self.progress.publish(record.id, snapshot)
            if await self.progress.cancel_requested(record.id):
                raise _Cancelled

    @staticmethod
    async def _flag_suppressed(
        stage: StagingRepository, records: list[StageRecord], problems: list[Problem]
    ) -> int:
        """Mark the batch's suppressed addresses not to be subscribed, and report them."""
        found = await stage.suppressed_among([r[1] for r in records])
        if not found:
            return 0
        for index, record in enumerate(records):
            row_no, email, first, last, zone, locale, tags, fields, _, contact_id = record
            reason = found.get(email)
            if reason is not None:
                records[index] = (
                    row_no,
                    email,
                    first,
                    last,
                    zone,
                    locale,
                    tags,
                    fields,
                    False,
                    contact_id,
                )
                problems.append(
                    (row_no, email, f"suppressed ({reason}): imported, subscribed to no list")
                )
        problems.sort(key=itemgetter(0))  # stable: a row's own problems keep their order
        return len(found)

    @asynccontextmanager
    async def _local_copy(self, key: str) -> AsyncIterator[Path]:
        """The stored file as a local path: the local backend's own file, or a
        temporary download from a remote one."""
        path = self.storage.local_path(key)
        if path is not None:
            if not await asyncio.to_thread(path.is_file):
                raise _Failed("the uploaded file is gone; upload it again")
            yield path
            return
        with tempfile.TemporaryDirectory(prefix="maily-import-") as folder:
            target = Path(folder) / "source"
            try:
                async with self.storage.open_read(key, chunk_size=1024 * 1024) as chunks:
                    file = await asyncio.to_thread(target.open, "wb")
                    try:
                        async for chunk in chunks:
                            await asyncio.to_thread(file.write, chunk)
                    finally:
                        await asyncio.to_thread(file.close)
            except ObjectNotFound as exc:
                raise _Failed("the uploaded file is gone; upload it again") from exc
            yield target


async def discard_source(
    session: AsyncSession, storage: ObjectStorage, workspace_id: uuid.UUID, import_id: uuid.UUID
) -> None:
    """Delete the uploaded file of a finished import: its contacts are in the
    workspace now (or were refused), and a copy of a mailing list should not linger."""
    record = await ImportRepository(session).get(workspace_id, import_id)
    if record is None or record.status in ("uploaded", "queued"):
        return
    await storage.delete(record.object_key)
