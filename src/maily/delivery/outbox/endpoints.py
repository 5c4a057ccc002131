"""HTTP routes of the outbox viewer: list, read and clear mail the outbox kept."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from maily.api.deps import SessionDep
from maily.delivery.outbox import schemas
from maily.delivery.outbox.auth import SendingRead, SendingWrite
from maily.delivery.outbox.service import OutboxService
from maily.kit.errors import Unprocessable
from maily.kit.pagination import Page, PageParams, make_page, page_params
from maily.kit.schemas import contains_nul

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/outbox", tags=["outbox"])
Paging = Annotated[PageParams, Depends(page_params)]


@router.get("", operation_id="outbox_list")
async def list_messages(
    ctx: SendingRead,
    paging: Paging,
    session: SessionDep,
    recipient: Annotated[
        str | None, Query(max_length=320, description="Only mail to this exact address")
    ] = None,
    delivery_id: Annotated[uuid.UUID | None, Query(description="Only this delivery's mail")] = None,
) -> Page[schemas.OutboxMessageOut]:
    """Mail the outbox transport kept instead of delivering, newest first."""
    if contains_nul(recipient):
        raise Unprocessable("recipient must not contain NUL characters")
    rows = await OutboxService(session).list(
        ctx, paging, recipient=recipient, delivery_id=delivery_id
    )
    return make_page(
        [schemas.OutboxMessageOut.model_validate(r) for r in rows], paging, lambda m: m.id
    )


@router.delete("", operation_id="outbox_clear")
async def clear_messages(ctx: SendingWrite, session: SessionDep) -> schemas.OutboxCleared:
    """Delete every message the outbox holds for this workspace."""
    return schemas.OutboxCleared(deleted=await OutboxService(session).clear(ctx))


@router.get("/{message_id}", operation_id="outbox_get")
async def get_message(
    message_id: uuid.UUID, ctx: SendingRead, session: SessionDep
) -> schemas.OutboxMessageDetail:
    """One kept message: its headers and its text and HTML parts."""
    return await OutboxService(session).read(ctx, message_id)


@router.get(
    "/{message_id}/raw",
    operation_id="outbox_get_raw",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}, "description": "The message as sent"}},
)
async def get_raw_message(message_id: uuid.UUID, ctx: SendingRead, session: SessionDep) -> Response:
    """The complete message, byte for byte, as a transport would have sent it."""
    row = await OutboxService(session).get(ctx, message_id)
    return Response(
        content=row.raw,
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="{row.id}.eml"'},
    )
