"""HTTP route for reading a workspace's audit log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from maily.api.deps import SessionDep
from maily.audit import schemas
from maily.audit.auth import AuditRead
from maily.audit.repository import AuditRepository
from maily.kit.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1")
Paging = Annotated[PageParams, Depends(page_params)]
# Action and target names are dotted snake_case identifiers.
NAME = r"^[a-z0-9_.:-]+$"


@router.get("/workspaces/{workspace_id}/audit-log", operation_id="audit_log_list", tags=["audit"])
async def list_audit_log(
    ctx: AuditRead,
    paging: Paging,
    session: SessionDep,
    action: Annotated[
        str | None, Query(max_length=64, pattern=NAME, description="e.g. contact.erased")
    ] = None,
    target_type: Annotated[str | None, Query(max_length=32, pattern=NAME)] = None,
    target_id: uuid.UUID | None = None,
) -> Page[schemas.AuditEntryOut]:
    """Who did what in this workspace, newest first."""
    rows = await AuditRepository(session).list(
        ctx.workspace_id, paging, action=action, target_type=target_type, target_id=target_id
    )
    return make_page(
        [schemas.AuditEntryOut.model_validate(r) for r in rows], paging, lambda e: e.id
    )
