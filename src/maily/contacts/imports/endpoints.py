"""HTTP routes for contact imports: upload, mapping, start, progress, cancel, error report."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from maily.api.deps import SessionDep, State
from maily.contacts.auth import ContactsRead, ContactsWrite
from maily.contacts.imports import schemas
from maily.contacts.imports.multipart import file_part
from maily.contacts.imports.progress import ProgressStore
from maily.contacts.imports.report import empty_report
from maily.contacts.imports.service import ImportService, ImportView
from maily.kit.pagination import Page, PageParams, make_page, page_params
from maily.kit.storage import ObjectTooLarge

router = APIRouter(prefix="/api/v1")
Paging = Annotated[PageParams, Depends(page_params)]
# The multipart envelope around the file (boundaries, part headers) may add this much.
ENVELOPE_BYTES = 64 * 1024
PRESIGNED_URL_SECONDS = 300
CSV_TYPE = "text/csv; charset=utf-8"

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV (any delimiter, UTF-8 or Latin-1) or JSON Lines",
                        }
                    },
                }
            }
        },
    }
}


def import_service(session: SessionDep, state: State) -> ImportService:
    return ImportService(session, state.storage, ProgressStore(state.redis))


Service = Annotated[ImportService, Depends(import_service)]


def import_out(view: ImportView) -> schemas.ImportOut:
    record, live = view.record, view.live
    # While the job runs its counters exist only in Redis; afterwards the row has them.
    running = view.status == "running" and live is not None
    progress = None
    if live is not None:
        progress = schemas.ImportProgress(
            phase=live.phase if view.status == "running" else "done",
            percent=live.percent if view.status == "running" else 100.0,
            rows_per_second=live.rows_per_second,
            bytes_read=live.bytes_read,
        )
    return schemas.ImportOut(
        id=record.id,
        status=schemas.ImportStatus(view.status),
        filename=record.filename,
        size_bytes=record.size_bytes,
        format=record.format,
        delimiter=record.delimiter,
        encoding=record.encoding,
        columns=record.columns,
        mapping=record.mapping,
        mode=schemas.ImportMode(record.mode),
        list_ids=record.list_ids,
        tags=record.tags,
        rows_total=live.rows if running and live else record.rows_total,
        rows_processed=live.rows if running and live else record.rows_processed,
        rows_created=live.created if running and live else record.rows_created,
        rows_updated=live.updated if running and live else record.rows_updated,
        rows_skipped=live.skipped if running and live else record.rows_skipped,
        rows_invalid=live.invalid if running and live else record.rows_invalid,
        rows_duplicate=live.duplicates if running and live else record.rows_duplicate,
        rows_role=live.role if running and live else record.rows_role,
        rows_suppressed=live.suppressed if running and live else record.rows_suppressed,
        subscriptions=live.subscribed if running and live else record.subscriptions,
        progress=progress,
        has_error_report=record.status == "completed" and record.error_report_key is not None,
        error=record.error,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
    )


@router.post(
    "/workspaces/{workspace_id}/imports",
    operation_id="contact_imports_upload",
    status_code=status.HTTP_201_CREATED,
    tags=["imports"],
    openapi_extra=_UPLOAD_BODY,
    responses={
        400: {"description": "The multipart body is malformed"},
        413: {"description": "The file is larger than the upload limit"},
        415: {"description": "The body is not multipart/form-data"},
        422: {"description": "The file is not CSV or JSON Lines, or has no address column"},
    },
)
async def upload_import(
    request: Request, ctx: ContactsWrite, service: Service, state: State
) -> schemas.ImportUploaded:
    """Upload a CSV or JSON Lines file (multipart field `file`).

    The file streams to storage, up to the configured size limit. Its encoding, format
    and delimiter are detected, its header read, and a column mapping guessed: check
    it (and the sample rows), change it if needed, then start the import."""
    limit = state.settings.storage.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + ENVELOPE_BYTES:
        raise ObjectTooLarge(limit, "upload")
    part = await file_part(request)
    record, facts = await service.upload(ctx, part.filename, part.chunks, max_bytes=limit)
    out = import_out(await service.view(record))
    return schemas.ImportUploaded(**out.model_dump(), sample=facts.sample)


@router.get(
    "/workspaces/{workspace_id}/imports", operation_id="contact_imports_list", tags=["imports"]
)
async def list_imports(
    ctx: ContactsRead, paging: Paging, service: Service
) -> Page[schemas.ImportOut]:
    """The workspace's imports, newest first."""
    rows = await service.list_imports(ctx, paging)
    items = [import_out(await service.view(r)) for r in rows[: paging.limit]]
    page = make_page(rows, paging, lambda r: r.id)
    return Page[schemas.ImportOut](items=items, next_cursor=page.next_cursor)


@router.get(
    "/workspaces/{workspace_id}/imports/{import_id}",
    operation_id="contact_imports_get",
    tags=["imports"],
)
async def get_import(
    import_id: uuid.UUID, ctx: ContactsRead, service: Service
) -> schemas.ImportOut:
    """The import, with live progress (phase, percent, rows per second, counts) while
    it runs."""
    return import_out(await service.view(await service.get(ctx, import_id)))


@router.patch(
    "/workspaces/{workspace_id}/imports/{import_id}",
    operation_id="contact_imports_update",
    tags=["imports"],
    responses={
        404: {"description": "The import, or a list, does not exist"},
        409: {"description": "The import has started"},
        422: {"description": "The mapping is not usable"},
    },
)
async def update_import(
    import_id: uuid.UUID, body: schemas.ImportUpdate, ctx: ContactsWrite, service: Service
) -> schemas.ImportOut:
    """Set the column mapping, the mode, the lists to subscribe to and the tags to add."""
    return import_out(await service.view(await service.update(ctx, import_id, body)))


@router.post(
    "/workspaces/{workspace_id}/imports/{import_id}/start",
    operation_id="contact_imports_start",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["imports"],
    responses={409: {"description": "The import has started or was cancelled"}},
)
async def start_import(
    import_id: uuid.UUID, ctx: ContactsWrite, service: Service
) -> schemas.ImportOut:
    """Queue the import. Poll it for progress; nothing changes in the workspace until
    it completes, all at once."""
    return import_out(await service.view(await service.start(ctx, import_id)))


@router.post(
    "/workspaces/{workspace_id}/imports/{import_id}/cancel",
    operation_id="contact_imports_cancel",
    tags=["imports"],
    responses={409: {"description": "The import has finished"}},
)
async def cancel_import(
    import_id: uuid.UUID, ctx: ContactsWrite, service: Service
) -> schemas.ImportOut:
    """Cancel an import that has not finished. A running one stops and changes nothing."""
    return import_out(await service.view(await service.cancel(ctx, import_id)))


@router.get(
    "/workspaces/{workspace_id}/imports/{import_id}/errors",
    operation_id="contact_imports_error_report",
    tags=["imports"],
    response_class=Response,
    responses={
        200: {
            "description": "CSV: row, value, reason — one line per problem "
            "(just the header while there is no report)",
            "content": {"text/csv": {}},
        },
        307: {"description": "A short-lived presigned link to the report (S3 storage)"},
    },
)
async def download_error_report(
    import_id: uuid.UUID, ctx: ContactsRead, service: Service, state: State
) -> Response:
    """The rows that were not imported or were flagged, and why. Values that a
    spreadsheet would run as formulas are prefixed with a single quote."""
    key = await service.error_report(ctx, import_id)
    filename = f"import-{import_id}-errors.csv"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    storage = state.storage
    stored = await storage.stat(key) if key is not None else None
    if key is None or stored is None:
        return Response(empty_report(), media_type=CSV_TYPE, headers=headers)
    url = await storage.presigned_url(key, PRESIGNED_URL_SECONDS, download_name=filename)
    if url is not None:
        return RedirectResponse(
            url,
            status_code=status.HTTP_307_TEMPORARY_REDIRECT,
            headers={"Cache-Control": "no-store"},
        )

    async def body() -> AsyncIterator[bytes]:
        async with storage.open_read(key) as chunks:
            async for chunk in chunks:
                yield chunk

    return StreamingResponse(
        body(), media_type=CSV_TYPE, headers={**headers, "Content-Length": str(stored.size)}
    )
