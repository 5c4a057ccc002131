"""Rules for contact exports: what may be exported, the job that writes the file, downloads."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, true

from maily.audit.service import actor_of, record_audit
from maily.auth.service import WorkspaceContext
from maily.contacts.exports.columns import (
    CONTENT_TYPES,
    ExportColumns,
    UnknownExportField,
    check_fields,
    encoder_for,
)
from maily.contacts.exports.repository import ExportRepository
from maily.contacts.exports.schemas import ExportCreate
from maily.kit.db import AsyncSession
from maily.kit.errors import Conflict, MailyError, NotFound, Unprocessable
from maily.kit.pagination import PageParams
from maily.kit.storage import ObjectStorage
from maily.models import ContactExport
from maily.segments.compiler import load_segment_predicate

logger = logging.getLogger(__name__)

EXPORT_TASK = "contacts.export"
# Contacts per batch read from the cursor and written as one chunk: big enough to
# keep round trips rare, small enough that a batch is a few MiB at most.
EXPORT_BATCH_SIZE = 2000
# The upload cap protects the server from clients; an export is bounded by the
# workspace's own data, so only a sanity bound applies (S3 multipart tops out near it).
EXPORT_MAX_BYTES = 64 * 1024**3


class ExportNotReady(Conflict):
    """The export has no file (yet): it is queued, running or failed."""


class ExportFileGone(MailyError):
    status_code = 410
    code = "gone"


class ExportSourceUnusable(Exception):
    """The list or segment was deleted, or the segment's rules went out of date,
    between the request and the job: retrying cannot help."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def export_object_key(export: ContactExport) -> str:
    return f"workspaces/{export.workspace_id}/exports/{export.id}.{export.format}"


def download_name(export: ContactExport) -> str:
    return f"contacts-{export.created_at:%Y%m%d-%H%M%S}.{export.format}"


class ExportService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.exports = ExportRepository(session)

    # -- requests ---------------------------------------------------------------

    async def request(self, ctx: WorkspaceContext, body: ExportCreate) -> ContactExport:
        """Record the export, queue its job (sent after commit), and audit the request."""
        workspace_id = ctx.workspace_id
        if body.source == "list":
            assert body.source_id is not None
            if not await self.exports.list_exists(workspace_id, body.source_id):
                raise NotFound("list not found")
        elif body.source == "segment":
            assert body.source_id is not None
            # Compiled now so a missing (404) or outdated (409) segment is refused at
            # once rather than failing in the job.
            await load_segment_predicate(self.session, workspace_id, body.source_id)
        try:
            check_fields(
                body.fields,
                await self.exports.custom_field_keys(workspace_id),
                source=body.source,
            )
        except UnknownExportField as exc:
            raise Unprocessable(
                str(exc),
                details=[{"loc": ["body", "fields"], "message": exc.reason, "fields": exc.names}],
            ) from exc
        export = await self.exports.add(
            ContactExport(
                workspace_id=workspace_id,
                source=body.source,
                source_id=body.source_id,
                format=body.format,
                fields=list(body.fields),
                created_by=ctx.user_id,
            )
        )
        self.session.jobs.enqueue(
            EXPORT_TASK,
            key=f"{EXPORT_TASK}:{export.id}",
            workspace_id=str(workspace_id),
            export_id=str(export.id),
        )
        await record_audit(
            self.session,
            workspace_id,
            actor_of(ctx),
            "contact_export.requested",
            "contact_export",
            export.id,
            {
                "source": body.source,
                "source_id": str(body.source_id) if body.source_id else None,
                "format": body.format,
                "fields": list(body.fields),
            },
        )
        return export

    async def get(self, ctx: WorkspaceContext, export_id: uuid.UUID) -> ContactExport:
        export = await self.exports.get(ctx.workspace_id, export_id)
        if export is None:
            raise NotFound("export not found")
        return export

    async def list(self, ctx: WorkspaceContext, page: PageParams) -> list[ContactExport]:
        return await self.exports.list(ctx.workspace_id, page)

    async def start_download(self, ctx: WorkspaceContext, export_id: uuid.UUID) -> ContactExport:
        """The completed export to hand out; every download is audited."""
        export = await self.get(ctx, export_id)
        if export.status != "completed" or export.object_key is None:
            raise ExportNotReady(
                f"the export is {export.status}; it can be downloaded once it is completed"
            )
        await record_audit(
            self.session,
            ctx.workspace_id,
            actor_of(ctx),
            "contact_export.downloaded",
            "contact_export",
            export.id,
            {"format": export.format, "rows": export.rows},
        )
        return export

    # -- the job ----------------------------------------------------------------

    async def run(
        self,
        workspace_id: uuid.UUID,
        export_id: uuid.UUID,
        storage: ObjectStorage,
        *,
        final_attempt: bool,
        batch_size: int = EXPORT_BATCH_SIZE,
    ) -> None:
        """Write the export's file and record the outcome. Safe to run twice: a
        finished export is left alone, and the file is replaced whole, never appended."""
        export = await self.exports.get_for_update(workspace_id, export_id)
        if export is None or export.status in ("completed", "failed"):
            return  # gone with its workspace, or a duplicate run of a finished job
        key = export_object_key(export)
        try:
            # A savepoint, so a failed query still leaves the transaction able to
            # record the failure.
            async with self.session.begin_nested():
                rows = await self._write_file(export, key, storage, batch_size)
        except ExportSourceUnusable as exc:
            self._finish(export, error=str(exc))
        except Exception:
            if not final_attempt:
                raise  # the job is retried
            logger.exception("contact export %s failed on its last attempt", export_id)
            self._finish(export, error="the export failed; the server log has the details")
        else:
            export.object_key = key
            export.rows = rows
            self._finish(export, error=None)
        await self.session.flush()

    def _finish(self, export: ContactExport, *, error: str | None) -> None:
        export.status = "failed" if error else "completed"
        export.error = error
        export.finished_at = utcnow()

    async def _source_predicate(self, export: ContactExport) -> ColumnElement[bool]:
        if export.source == "all":
            return true()
        assert export.source_id is not None
        if export.source == "list":
            if not await self.exports.list_exists(export.workspace_id, export.source_id):
                raise ExportSourceUnusable("the list was deleted before the export ran")
            return ExportRepository.in_list(export.workspace_id, export.source_id)
        try:
            return await load_segment_predicate(self.session, export.workspace_id, export.source_id)
        except NotFound as exc:
            raise ExportSourceUnusable("the segment was deleted before the export ran") from exc
        except MailyError as exc:
            raise ExportSourceUnusable(f"the segment cannot be used: {exc.message}") from exc

    async def _write_file(
        self, export: ContactExport, key: str, storage: ObjectStorage, batch_size: int
    ) -> int:
        predicate = await self._source_predicate(export)
        columns = ExportColumns(tuple(export.fields))
        encoder = encoder_for(export.format, columns)
        rows = 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal rows
            header = encoder.header()
            if header:
                yield header
            async for batch in self.exports.stream_contacts(
                export.workspace_id,
                predicate,
                columns,
                list_id=export.source_id if export.source == "list" else None,
                batch_size=batch_size,
            ):
                rows += len(batch)
                yield encoder.encode(batch)

        await storage.put_stream(
            key, chunks(), content_type=CONTENT_TYPES[export.format], max_bytes=EXPORT_MAX_BYTES
        )
        return rows
