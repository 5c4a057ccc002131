"""Rules for contact imports as the API sees them: upload, mapping, start, cancel, progress.

No SQL and no HTTP here: repositories do the first, endpoints the second. The job
that does the import is in `job.py`."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from maily.audit.service import actor_of, record_audit
from maily.auth.service import WorkspaceContext
from maily.contacts.imports.mapping import (
    InvalidMapping,
    KnownField,
    guess_mapping,
    validate_mapping,
)
from maily.contacts.imports.progress import ProgressStore, Snapshot
from maily.contacts.imports.repository import OPEN_STATUSES, ImportRepository
from maily.contacts.imports.schemas import ImportUpdate
from maily.contacts.imports.sniffing import ContentCheck, FileFacts, UnusableFile, inspect
from maily.contacts.repository import CustomFieldRepository, ListRepository
from maily.kit.db import AsyncSession
from maily.kit.db.base import new_uuid
from maily.kit.errors import Conflict, MailyError, NotFound
from maily.kit.pagination import PageParams
from maily.kit.storage import ObjectStorage
from maily.models import ContactImport

__all__ = [
    "DISCARD_TASK",
    "IMPORT_TASK",
    "ImportService",
    "ImportView",
    "InvalidImportFile",
    "report_key",
    "source_key",
]

logger = logging.getLogger(__name__)

IMPORT_TASK = "contacts.import"
DISCARD_TASK = "contacts.import_discard_file"
MAX_FILENAME = 255


class InvalidImportFile(MailyError):
    """The file or the mapping cannot drive an import."""

    status_code = 422
    code = "invalid_import_file"


class ImportNotEditable(Conflict):
    code = "import_not_editable"


def utcnow() -> datetime:
    return datetime.now(UTC)


def source_key(workspace_id: uuid.UUID, import_id: uuid.UUID) -> str:
    return f"workspaces/{workspace_id}/imports/{import_id}/source"


def report_key(workspace_id: uuid.UUID, import_id: uuid.UUID) -> str:
    return f"workspaces/{workspace_id}/imports/{import_id}/errors.csv"


def clean_filename(name: str | None) -> str:
    """The base name without path or control characters; what the UI shows."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()
    return base[:MAX_FILENAME] or "contacts.csv"


@dataclass(frozen=True)
class ImportView:
    """An import as callers see it: the row, with live progress while the job runs."""

    record: ContactImport
    status: str
    live: Snapshot | None


class ImportService:
    def __init__(
        self, session: AsyncSession, storage: ObjectStorage, progress: ProgressStore
    ) -> None:
        self.session = session
        self.storage = storage
        self.progress = progress
        self.imports = ImportRepository(session)
        self.fields = CustomFieldRepository(session)
        self.lists = ListRepository(session)

    # -- upload -------------------------------------------------------------------

    async def upload(
        self,
        ctx: WorkspaceContext,
        filename: str | None,
        chunks: AsyncIterable[bytes],
        *,
        max_bytes: int,
    ) -> tuple[ContactImport, FileFacts]:
        """Stream the file to storage, learn what it is, and guess its mapping.

        Nothing is kept of a file that is too big (413) or cannot be imported (422)."""
        import_id = new_uuid()  # chosen now: the object key carries it
        key = source_key(ctx.workspace_id, import_id)
        check = ContentCheck()

        async def inspected() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                check.feed(chunk)
                yield chunk

        stored = await self.storage.put_stream(
            key, inspected(), content_type="application/octet-stream", max_bytes=max_bytes
        )
        try:
            check.finish()
            facts = inspect(check)
            fields = await self.fields.list(ctx.workspace_id)
            mapping = guess_mapping(
                facts.columns, facts.sample, [KnownField(f.key, f.label) for f in fields]
            )
            if "email" not in mapping.values():
                raise UnusableFile(
                    "no column holds email addresses; the file needs one "
                    f"(its columns: {', '.join(facts.columns[:20])})"
                )
            record = await self.imports.add(
                ContactImport(
                    workspace_id=ctx.workspace_id,
                    id=import_id,
                    filename=clean_filename(filename),
                    object_key=key,
                    size_bytes=stored.size,
                    format=facts.format,
                    delimiter=facts.delimiter,
                    encoding=facts.encoding,
                    columns=facts.columns,
                    mapping=mapping,
                    created_by=ctx.user_id,
                )
            )
        except UnusableFile as exc:
            await self.storage.delete(key)
            raise InvalidImportFile(str(exc)) from exc
        except BaseException:
            # Also when the row cannot be written: a file with no import is an orphan.
            await self.storage.delete(key)
            raise
        return record, facts

    # -- reading ------------------------------------------------------------------

    async def get(self, ctx: WorkspaceContext, import_id: uuid.UUID) -> ContactImport:
        record = await self.imports.get(ctx.workspace_id, import_id)
        if record is None:
            raise NotFound("import not found")
        return record

    async def view(self, record: ContactImport) -> ImportView:
        """Redis first: while the job runs, its transaction hides everything it did.
        A finished row wins over Redis, which may still say 'running'."""
        live = await self.progress.read(record.id)
        status = record.status
        if record.status == "queued" and live is not None:
            # The job's outcome counts once its transaction commits and the row says so.
            status = "running"
        return ImportView(record, status, live)

    async def list_imports(self, ctx: WorkspaceContext, page: PageParams) -> list[ContactImport]:
        return await self.imports.list(ctx.workspace_id, page)

    # -- mapping, start and cancel --------------------------------------------------

    async def update(
        self, ctx: WorkspaceContext, import_id: uuid.UUID, body: ImportUpdate
    ) -> ContactImport:
        record = await self.get(ctx, import_id)
        if record.status != "uploaded":
            raise ImportNotEditable(f"the import is {record.status}; only a new one can change")
        if body.mapping is not None:
            field_keys = [f.key for f in await self.fields.list(ctx.workspace_id)]
            try:
                record.mapping = validate_mapping(record.columns, body.mapping, field_keys)
            except InvalidMapping as exc:
                raise InvalidImportFile(str(exc)) from exc
        if body.mode is not None:
            record.mode = body.mode.value
        if body.list_ids is not None:
            list_ids = list(dict.fromkeys(body.list_ids))
            await self._check_lists(ctx, list_ids)
            record.list_ids = list_ids
        if body.tags is not None:
            record.tags = list(dict.fromkeys(body.tags))
        await self.session.flush()
        return record

    async def _check_lists(self, ctx: WorkspaceContext, list_ids: list[uuid.UUID]) -> None:
        missing = set(list_ids) - await self.lists.existing_ids(ctx.workspace_id, list_ids)
        if missing:
            raise NotFound(f"list not found: {', '.join(sorted(map(str, missing)))}")

    async def start(self, ctx: WorkspaceContext, import_id: uuid.UUID) -> ContactImport:
        """Queue the job (sent once this request commits)."""
        record = await self.get(ctx, import_id)
        if record.status != "uploaded":
            raise ImportNotEditable(f"the import is {record.status} already")
        field_keys = [f.key for f in await self.fields.list(ctx.workspace_id)]
        try:
            validate_mapping(record.columns, record.mapping, field_keys)
        except InvalidMapping as exc:
            raise InvalidImportFile(str(exc)) from exc
        await self._check_lists(ctx, record.list_ids)
        if not await self.imports.transition(
            ctx.workspace_id, import_id, from_statuses=("uploaded",), values={"status": "queued"}
        ):
            raise ImportNotEditable("the import was started or cancelled meanwhile")
        self.session.jobs.enqueue(
            IMPORT_TASK,
            key=f"{IMPORT_TASK}:{import_id}",
            workspace_id=str(ctx.workspace_id),
            import_id=str(import_id),
        )
        await record_audit(
            self.session,
            ctx.workspace_id,
            actor_of(ctx),
            "contact_import.started",
            "contact_import",
            import_id,
            {
                "mode": record.mode,
                "size_bytes": record.size_bytes,
                "list_ids": [str(i) for i in record.list_ids],
                "tags": record.tags,
            },
        )
        await self.imports.reload(record)
        return record

    async def cancel(self, ctx: WorkspaceContext, import_id: uuid.UUID) -> ContactImport:
        """Stop an import that has not finished; a running one keeps nothing.

        The row says 'cancelled' at once; the job sees the flag between batches (and
        at its end, through the row) and rolls back its transaction."""
        record = await self.get(ctx, import_id)
        cancelled = await self.imports.transition(
            ctx.workspace_id,
            import_id,
            from_statuses=OPEN_STATUSES,
            values={"status": "cancelled", "finished_at": utcnow()},
        )
        if not cancelled:
            await self.imports.reload(record)
            raise Conflict(
                f"the import is {record.status}; only an unfinished one can be cancelled"
            )
        await self.progress.request_cancel(import_id)
        self.session.jobs.enqueue(
            DISCARD_TASK,
            key=f"{DISCARD_TASK}:{import_id}",
            workspace_id=str(ctx.workspace_id),
            import_id=str(import_id),
        )
        await record_audit(
            self.session,
            ctx.workspace_id,
            actor_of(ctx),
            "contact_import.cancelled",
            "contact_import",
            import_id,
        )
        await self.imports.reload(record)
        return record

    async def error_report(self, ctx: WorkspaceContext, import_id: uuid.UUID) -> str | None:
        """The stored report's key; None while there is none (not run yet, or no problems)."""
        record = await self.get(ctx, import_id)
        return record.error_report_key if record.status == "completed" else None
