"""HTTP routes for contact exports: request, list, status and download."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from maily.api.deps import SessionDep, State
from maily.contacts.auth import ContactsExport
from maily.contacts.exports import schemas
from maily.contacts.exports.columns import CONTENT_TYPES
from maily.contacts.exports.service import ExportFileGone, ExportService, download_name
from maily.kit.pagination import Page, PageParams, make_page, page_params
from maily.kit.storage import ObjectStorage

router = APIRouter(prefix="/api/v1")
Paging = Annotated[PageParams, Depends(page_params)]
# Presigned links are handed to the browser at once; a short life limits a leaked one.
PRESIGNED_URL_SECONDS = 300


def object_storage(state: State) -> ObjectStorage:
    return state.storage


StorageDep = Annotated[ObjectStorage, Depends(object_storage)]


@router.post(
    "/workspaces/{workspace_id}/exports",
    operation_id="contact_exports_create",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["exports"],
    responses={404: {"description": "The list or segment does not exist"}},
)
async def create_export(
    body: schemas.ExportCreate, ctx: ContactsExport, session: SessionDep
) -> schemas.ExportOut:
    """Export a list, a saved segment or every contact to CSV or JSON Lines.

    The file is written by a background job; poll the export until it is completed,
    then download it. In CSV every cell that a spreadsheet would read as a formula
    (starting with = + - @, tab or carriage return) is prefixed with a single quote."""
    export = await ExportService(session).request(ctx, body)
    return schemas.ExportOut.model_validate(export)


@router.get(
    "/workspaces/{workspace_id}/exports", operation_id="contact_exports_list", tags=["exports"]
)
async def list_exports(
    ctx: ContactsExport, paging: Paging, session: SessionDep
) -> Page[schemas.ExportOut]:
    """The workspace's exports, newest first."""
    rows = await ExportService(session).list(ctx, paging)
    return make_page([schemas.ExportOut.model_validate(r) for r in rows], paging, lambda e: e.id)


@router.get(
    "/workspaces/{workspace_id}/exports/{export_id}",
    operation_id="contact_exports_get",
    tags=["exports"],
)
async def get_export(
    export_id: uuid.UUID, ctx: ContactsExport, session: SessionDep
) -> schemas.ExportOut:
    return schemas.ExportOut.model_validate(await ExportService(session).get(ctx, export_id))


@router.get(
    "/workspaces/{workspace_id}/exports/{export_id}/download",
    operation_id="contact_exports_download",
    tags=["exports"],
    response_class=Response,
    responses={
        200: {
            "description": "The file (local storage)",
            "content": {CONTENT_TYPES["csv"]: {}, CONTENT_TYPES["jsonl"]: {}},
        },
        307: {"description": "A short-lived presigned link to the file (S3 storage)"},
        409: {"description": "The export is not completed"},
        410: {"description": "The file is no longer stored"},
    },
)
async def download_export(
    export_id: uuid.UUID, ctx: ContactsExport, session: SessionDep, storage: StorageDep
) -> Response:
    """Download a completed export; every download is recorded in the audit log."""
    export = await ExportService(session).start_download(ctx, export_id)
    assert export.object_key is not None
    filename = download_name(export)
    url = await storage.presigned_url(
        export.object_key, PRESIGNED_URL_SECONDS, download_name=filename
    )
    if url is not None:
        return RedirectResponse(
            url,
            status_code=status.HTTP_307_TEMPORARY_REDIRECT,
            headers={"Cache-Control": "no-store"},
        )
    stored = await storage.stat(export.object_key)
    if stored is None:
        raise ExportFileGone("the export's file is no longer stored; request a new export")
    key = export.object_key

    async def body() -> AsyncIterator[bytes]:
        async with storage.open_read(key) as chunks:
            async for chunk in chunks:
                yield chunk

    return StreamingResponse(
        body(),
        media_type=CONTENT_TYPES[export.format],
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(stored.size),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
