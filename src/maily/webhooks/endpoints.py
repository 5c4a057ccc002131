"""HTTP routes for outbound webhooks: endpoints, their secret, a ping, the delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from maily.api.deps import SessionDep, SettingsDep
from maily.kit.pagination import Page, PageParams, make_page, page_params
from maily.webhooks import schemas
from maily.webhooks.auth import WebhooksRead, WebhooksWrite
from maily.webhooks.events import EVENT_TYPES
from maily.webhooks.service import WebhookService

router = APIRouter(prefix="/api/v1", tags=["webhooks"])
Paging = Annotated[PageParams, Depends(page_params)]
WEBHOOKS = "/workspaces/{workspace_id}/webhooks"
ONE = f"{WEBHOOKS}/{{webhook_id}}"
REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "The URL is refused (not https, or not a public address)"}
}


@router.get("/workspaces/{workspace_id}/webhook-event-types", operation_id="webhooks_event_types")
async def event_types(ctx: WebhooksRead) -> list[schemas.EventTypeOut]:
    """The events a webhook may subscribe to."""
    return [schemas.EventTypeOut(type=name, description=text) for name, text in EVENT_TYPES.items()]


@router.get(WEBHOOKS, operation_id="webhooks_list")
async def list_webhooks(
    ctx: WebhooksRead, paging: Paging, session: SessionDep, settings: SettingsDep
) -> Page[schemas.WebhookOut]:
    rows = await WebhookService(session, settings).page(ctx, paging)
    return make_page([schemas.WebhookOut.model_validate(r) for r in rows], paging, lambda w: w.id)


@router.post(
    WEBHOOKS,
    operation_id="webhooks_create",
    status_code=status.HTTP_201_CREATED,
    responses={**REFUSED, 409: {"description": "The workspace has as many webhooks as allowed"}},
)
async def create_webhook(
    body: schemas.WebhookCreate, ctx: WebhooksWrite, session: SessionDep, settings: SettingsDep
) -> schemas.WebhookWithSecret:
    """Subscribe a URL to event types. The answer carries the signing secret, shown
    this once; every request to the URL is signed with it (`Maily-Signature`)."""
    endpoint, secret = await WebhookService(session, settings).create(ctx, body)
    out = schemas.WebhookOut.model_validate(endpoint)
    return schemas.WebhookWithSecret(**out.model_dump(), secret=secret)


@router.get(ONE, operation_id="webhooks_get")
async def get_webhook(
    webhook_id: uuid.UUID, ctx: WebhooksRead, session: SessionDep, settings: SettingsDep
) -> schemas.WebhookOut:
    return schemas.WebhookOut.model_validate(
        await WebhookService(session, settings).get(ctx, webhook_id)
    )


@router.patch(ONE, operation_id="webhooks_update", responses=REFUSED)
async def update_webhook(
    webhook_id: uuid.UUID,
    body: schemas.WebhookUpdate,
    ctx: WebhooksWrite,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.WebhookOut:
    """Change the URL, events or description; `enabled: true` re-enables a webhook
    that was disabled after repeated failures."""
    endpoint = await WebhookService(session, settings).update(ctx, webhook_id, body)
    return schemas.WebhookOut.model_validate(endpoint)


@router.delete(ONE, operation_id="webhooks_delete", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(
    webhook_id: uuid.UUID, ctx: WebhooksWrite, session: SessionDep, settings: SettingsDep
) -> None:
    await WebhookService(session, settings).delete(ctx, webhook_id)


@router.post(f"{ONE}/rotate-secret", operation_id="webhooks_rotate_secret")
async def rotate_secret(
    webhook_id: uuid.UUID, ctx: WebhooksWrite, session: SessionDep, settings: SettingsDep
) -> schemas.WebhookSecretOut:
    """A new signing secret, shown this once; the old one stops working at once."""
    secret = await WebhookService(session, settings).rotate_secret(ctx, webhook_id)
    return schemas.WebhookSecretOut(secret=secret)


@router.post(
    f"{ONE}/ping",
    operation_id="webhooks_ping",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "The webhook is disabled"}},
)
async def ping_webhook(
    webhook_id: uuid.UUID, ctx: WebhooksWrite, session: SessionDep, settings: SettingsDep
) -> schemas.WebhookDeliveryOut:
    """Queue a `webhook.ping` event to this URL; follow it in the delivery log."""
    delivery = await WebhookService(session, settings).ping(ctx, webhook_id)
    return schemas.WebhookDeliveryOut.model_validate(delivery)


@router.get(f"{ONE}/deliveries", operation_id="webhooks_deliveries_list")
async def list_deliveries(
    webhook_id: uuid.UUID,
    ctx: WebhooksRead,
    paging: Paging,
    session: SessionDep,
    settings: SettingsDep,
) -> Page[schemas.WebhookDeliveryOut]:
    """The delivery log, newest first, each delivery with every attempt made."""
    rows = await WebhookService(session, settings).deliveries(ctx, webhook_id, paging)
    return make_page(rows, paging, lambda d: d.id)


@router.get(f"{ONE}/deliveries/{{webhook_delivery_id}}", operation_id="webhooks_deliveries_get")
async def get_delivery(
    webhook_id: uuid.UUID,
    webhook_delivery_id: uuid.UUID,
    ctx: WebhooksRead,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.WebhookDeliveryOut:
    return await WebhookService(session, settings).delivery(ctx, webhook_id, webhook_delivery_id)
