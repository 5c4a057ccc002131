"""Rules of outbound webhooks: endpoints (URL checked, secret shown once), fanning
events out to the endpoints that subscribe, and reading the delivery log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from maily.auth.service import WorkspaceContext
from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.errors import Conflict, NotFound, Unprocessable
from maily.kit.pagination import PageParams
from maily.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from maily.webhooks import schemas
from maily.webhooks.addresses import RefusedURL, Resolver, check_webhook_url, system_resolver
from maily.webhooks.events import PING_EVENT, OutboundEvent
from maily.webhooks.repository import WebhookRepository
from maily.webhooks.signing import new_secret

DELIVER_TASK = "webhooks.deliver"


def deliver_job_key(delivery_id: uuid.UUID, attempt: int) -> str:
    # One queued job per delivery and attempt: a replayed enqueue does nothing.
    return f"webhook-delivery:{delivery_id}:{attempt}"


def enqueue_delivery(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    delivery_id: uuid.UUID,
    *,
    attempt: int = 1,
    delay_seconds: float | None = None,
) -> None:
    """Send the delivery's next attempt through the job queue, after commit."""
    session.jobs.enqueue(
        DELIVER_TASK,
        key=deliver_job_key(delivery_id, attempt),
        delay_seconds=delay_seconds,
        workspace_id=workspace_id,
        delivery_id=delivery_id,
    )


async def fan_out(session: AsyncSession, events: Sequence[OutboundEvent]) -> int:
    """Make one delivery per (event, subscribed endpoint of its workspace) and queue
    each; an event seen before (same id) makes no new delivery. Returns how many
    deliveries were made."""
    if not events:
        return 0
    repository = WebhookRepository(session)
    endpoints = await repository.subscribed(
        sorted({event.workspace_id for event in events}), sorted({event.type for event in events})
    )
    rows = [
        {
            "workspace_id": event.workspace_id,
            "endpoint_id": endpoint.id,
            "event_id": event.event_id,
            "event_type": event.type,
            "payload": event.payload(),
        }
        for event in events
        for endpoint in endpoints
        if endpoint.workspace_id == event.workspace_id and event.type in endpoint.event_types
    ]
    created = await repository.add_deliveries(rows)
    for workspace_id, delivery_id in created:
        enqueue_delivery(session, workspace_id, delivery_id)
    return len(created)


def _refused(field: str, exc: RefusedURL) -> Unprocessable:
    return Unprocessable(
        f"the webhook URL is refused: {exc}",
        details=[{"loc": ["body", field], "message": str(exc), "type": "refused_url"}],
    )


class WebhookService:
    def __init__(
        self, session: AsyncSession, settings: Settings, resolver: Resolver = system_resolver
    ) -> None:
        self.session = session
        self.settings = settings
        self.resolver = resolver
        self.webhooks = WebhookRepository(session)

    async def _checked_url(self, raw: str) -> str:
        try:
            checked = await check_webhook_url(raw, self.settings.webhooks, self.resolver)
        except RefusedURL as exc:
            raise _refused("url", exc) from None
        return checked.url.url

    async def get(
        self, ctx: WorkspaceContext, endpoint_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookEndpoint:
        endpoint = await self.webhooks.get_endpoint(
            ctx.workspace_id, endpoint_id, for_update=for_update
        )
        if endpoint is None:
            raise NotFound("webhook not found")
        return endpoint

    async def page(self, ctx: WorkspaceContext, page: PageParams) -> list[WebhookEndpoint]:
        return await self.webhooks.list_endpoints(ctx.workspace_id, page)

    async def create(
        self, ctx: WorkspaceContext, body: schemas.WebhookCreate
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its secret (the only time the secret is shown)."""
        limit = self.settings.webhooks.max_endpoints_per_workspace
        if await self.webhooks.count_endpoints(ctx.workspace_id) >= limit:
            raise Conflict(f"a workspace may have at most {limit} webhooks")
        url = await self._checked_url(body.url)
        secret = new_secret()
        endpoint = await self.webhooks.add_endpoint(
            WebhookEndpoint(
                workspace_id=ctx.workspace_id,
                url=url,
                description=body.description,
                event_types=sorted(set(body.event_types)),
                secret=secret,
                enabled=True,
                consecutive_failures=0,
            )
        )
        await self.session.refresh(endpoint)
        return endpoint, secret

    async def update(
        self, ctx: WorkspaceContext, endpoint_id: uuid.UUID, body: schemas.WebhookUpdate
    ) -> WebhookEndpoint:
        endpoint = await self.get(ctx, endpoint_id, for_update=True)
        if body.url is not None:
            endpoint.url = await self._checked_url(body.url)
        if body.event_types is not None:
            endpoint.event_types = sorted(set(body.event_types))
        if body.description is not None:
            endpoint.description = body.description
        if body.enabled is True and not endpoint.enabled:
            endpoint.enabled = True
            endpoint.consecutive_failures = 0
            endpoint.disabled_reason = None
            endpoint.disabled_at = None
        elif body.enabled is False and endpoint.enabled:
            endpoint.enabled = False
            endpoint.disabled_reason = "disabled by a member of the workspace"
            endpoint.disabled_at = datetime.now(UTC)
        await self.webhooks.save()
        await self.session.refresh(endpoint)
        return endpoint

    async def delete(self, ctx: WorkspaceContext, endpoint_id: uuid.UUID) -> None:
        await self.webhooks.delete_endpoint(await self.get(ctx, endpoint_id, for_update=True))

    async def rotate_secret(self, ctx: WorkspaceContext, endpoint_id: uuid.UUID) -> str:
        endpoint = await self.get(ctx, endpoint_id, for_update=True)
        endpoint.secret = new_secret()
        await self.webhooks.save()
        return endpoint.secret

    async def ping(self, ctx: WorkspaceContext, endpoint_id: uuid.UUID) -> WebhookDelivery:
        """Queue a `webhook.ping` event to this endpoint, whatever it subscribes to."""
        endpoint = await self.get(ctx, endpoint_id)
        if not endpoint.enabled:
            raise Conflict("the webhook is disabled; enable it first")
        event = OutboundEvent(
            workspace_id=ctx.workspace_id,
            event_id=f"p:{uuid.uuid4()}",
            type=PING_EVENT,
            occurred_at=datetime.now(UTC),
            data={"webhook_id": str(endpoint.id)},
        )
        created = await self.webhooks.add_deliveries(
            [
                {
                    "workspace_id": ctx.workspace_id,
                    "endpoint_id": endpoint.id,
                    "event_id": event.event_id,
                    "event_type": event.type,
                    "payload": event.payload(),
                }
            ]
        )
        workspace_id, delivery_id = created[0]
        enqueue_delivery(self.session, workspace_id, delivery_id)
        delivery = await self.webhooks.get_delivery(workspace_id, delivery_id)
        assert delivery is not None
        return delivery

    async def deliveries(
        self, ctx: WorkspaceContext, endpoint_id: uuid.UUID, page: PageParams
    ) -> list[schemas.WebhookDeliveryOut]:
        endpoint = await self.get(ctx, endpoint_id)
        rows = await self.webhooks.list_deliveries(ctx.workspace_id, endpoint.id, page)
        attempts = await self.webhooks.attempts_of(ctx.workspace_id, [row.id for row in rows])
        return [_delivery_out(row, attempts.get(row.id, [])) for row in rows]

    async def delivery(
        self, ctx: WorkspaceContext, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> schemas.WebhookDeliveryOut:
        endpoint = await self.get(ctx, endpoint_id)
        row = await self.webhooks.get_delivery(ctx.workspace_id, delivery_id)
        if row is None or row.endpoint_id != endpoint.id:
            raise NotFound("webhook delivery not found")
        attempts = await self.webhooks.attempts_of(ctx.workspace_id, [row.id])
        return _delivery_out(row, attempts.get(row.id, []))


def _delivery_out(
    row: WebhookDelivery, attempts: Sequence[WebhookAttempt]
) -> schemas.WebhookDeliveryOut:
    out = schemas.WebhookDeliveryOut.model_validate(row)
    out.attempt_log = [schemas.WebhookAttemptOut.model_validate(a) for a in attempts]
    return out
