"""All SQL of outbound webhooks. Requests are scoped to one workspace; the dispatcher's
two cross-workspace reads (recipients of a batch, endpoints of a batch's workspaces)
return rows that each carry their workspace."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert

from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams, paginate
from maily.models import Delivery, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from maily.webhooks.events import Recipient


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- endpoints ----------------------------------------------------------------

    async def count_endpoints(self, workspace_id: uuid.UUID) -> int:
        query = select(func.count()).where(WebhookEndpoint.workspace_id == workspace_id)
        return int((await self.session.execute(query)).scalar_one())

    async def add_endpoint(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        self.session.add(endpoint)
        await self.session.flush()
        return endpoint

    async def get_endpoint(
        self, workspace_id: uuid.UUID, endpoint_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookEndpoint | None:
        query = select(WebhookEndpoint).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.id == endpoint_id
        )
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_endpoints(
        self, workspace_id: uuid.UUID, page: PageParams
    ) -> list[WebhookEndpoint]:
        query = select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id)
        rows = await self.session.execute(paginate(query, WebhookEndpoint.id, page))
        return list(rows.scalars())

    async def save(self) -> None:
        await self.session.flush()

    async def delete_endpoint(self, endpoint: WebhookEndpoint) -> None:
        await self.session.delete(endpoint)
        await self.session.flush()

    async def subscribed(
        self, workspace_ids: Sequence[uuid.UUID], event_types: Sequence[str]
    ) -> list[WebhookEndpoint]:
        """Enabled endpoints of these workspaces that take any of these event types."""
        if not workspace_ids or not event_types:
            return []
        query = select(WebhookEndpoint).where(
            WebhookEndpoint.workspace_id.in_(list(workspace_ids)),
            WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.event_types.overlap(list(event_types)),
        )
        return list((await self.session.execute(query)).scalars())

    async def failed_once_more(self, workspace_id: uuid.UUID, endpoint_id: uuid.UUID) -> int:
        """Count one more failure in a row, atomically; returns the new count."""
        query = (
            update(WebhookEndpoint)
            .where(WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.id == endpoint_id)
            .values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1)
            .returning(WebhookEndpoint.consecutive_failures)
        )
        return int((await self.session.execute(query)).scalar_one())

    async def succeeded(self, workspace_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
        query = (
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.workspace_id == workspace_id,
                WebhookEndpoint.id == endpoint_id,
                WebhookEndpoint.consecutive_failures > 0,
            )
            .values(consecutive_failures=0)
        )
        await self.session.execute(query)

    async def disable(
        self, workspace_id: uuid.UUID, endpoint_id: uuid.UUID, reason: str, at: datetime
    ) -> None:
        query = (
            update(WebhookEndpoint)
            .where(WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.id == endpoint_id)
            .values(enabled=False, disabled_reason=reason[:500], disabled_at=at)
        )
        await self.session.execute(query)

    # -- deliveries ----------------------------------------------------------------

    async def add_deliveries(self, rows: list[dict[str, Any]]) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Insert deliveries, skipping (endpoint, event) pairs already there; returns
        (workspace_id, id) of the new ones."""
        if not rows:
            return []
        query = (
            insert(WebhookDelivery)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["workspace_id", "endpoint_id", "event_id"])
            .returning(WebhookDelivery.workspace_id, WebhookDelivery.id)
        )
        return [(row[0], row[1]) for row in await self.session.execute(query)]

    async def get_delivery(
        self, workspace_id: uuid.UUID, delivery_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookDelivery | None:
        query = select(WebhookDelivery).where(
            WebhookDelivery.workspace_id == workspace_id, WebhookDelivery.id == delivery_id
        )
        if for_update:
            # Two runs of one delivery's job (a swept job and its retry) take turns.
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_deliveries(
        self, workspace_id: uuid.UUID, endpoint_id: uuid.UUID, page: PageParams
    ) -> list[WebhookDelivery]:
        query = select(WebhookDelivery).where(
            WebhookDelivery.workspace_id == workspace_id,
            WebhookDelivery.endpoint_id == endpoint_id,
        )
        rows = await self.session.execute(
            paginate(query, WebhookDelivery.id, page, newest_first=True)
        )
        return list(rows.scalars())

    async def add_attempt(self, attempt: WebhookAttempt) -> None:
        self.session.add(attempt)
        await self.session.flush()

    async def attempts_of(
        self, workspace_id: uuid.UUID, delivery_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[WebhookAttempt]]:
        if not delivery_ids:
            return {}
        query = (
            select(WebhookAttempt)
            .where(
                WebhookAttempt.workspace_id == workspace_id,
                WebhookAttempt.delivery_id.in_(list(delivery_ids)),
            )
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt)
        )
        found: dict[uuid.UUID, list[WebhookAttempt]] = {}
        for attempt in (await self.session.execute(query)).scalars():
            found.setdefault(attempt.delivery_id, []).append(attempt)
        return found

    async def prune_settled(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` settled deliveries made before `before` (their attempts
        go with them), in every workspace: log retention is a maintenance job."""
        doomed = (
            select(WebhookDelivery.workspace_id, WebhookDelivery.id)
            .where(WebhookDelivery.status != "pending", WebhookDelivery.created_at < before)
            .limit(limit)
        )
        query = delete(WebhookDelivery).where(
            tuple_(WebhookDelivery.workspace_id, WebhookDelivery.id).in_(doomed)
        )
        result = await self.session.execute(query)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- the dispatcher's read of the ledger -------------------------------------------

    async def recipients(self, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Recipient]:
        """Campaign deliveries by id, in one query for a whole batch of events."""
        if not delivery_ids:
            return {}
        query = select(
            Delivery.id,
            Delivery.workspace_id,
            Delivery.campaign_id,
            Delivery.contact_id,
            Delivery.email,
            Delivery.variant,
        ).where(Delivery.id.in_(list(delivery_ids)))
        return {
            row.id: Recipient(
                workspace_id=row.workspace_id,
                campaign_id=row.campaign_id,
                contact_id=row.contact_id,
                email=row.email,
                variant=row.variant,
            )
            for row in await self.session.execute(query)
        }
