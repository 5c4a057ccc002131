"""Helpers of the webhook tests: a workspace caller, test settings, deliveries to run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from maily.auth.permissions import CATALOGUE
from maily.auth.service import Principal, WorkspaceContext
from maily.config import Settings, WebhookSettings
from maily.kit.db import AsyncSession
from maily.models import Workspace
from maily.webhooks import schemas
from maily.webhooks.addresses import Resolver, system_resolver
from maily.webhooks.events import OutboundEvent
from maily.webhooks.service import WebhookService, fan_out

# What the tests run with: a loopback receiver over plain http, quick retries.
TEST_WEBHOOKS: dict[str, Any] = {
    "allow_http": True,
    "allow_private_addresses": True,
    "retry_base_seconds": 10.0,
    "retry_max_seconds": 1000.0,
    "max_attempts": 5,
    "disable_after_failures": 50,
    "timeout_seconds": 5.0,
}


def webhook_settings(**overrides: Any) -> WebhookSettings:
    return WebhookSettings(**{**TEST_WEBHOOKS, **overrides})


def with_webhooks(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(update={"webhooks": webhook_settings(**overrides)})


def caller(workspace_id: uuid.UUID) -> WorkspaceContext:
    return WorkspaceContext(workspace_id, Principal(), None, frozenset(CATALOGUE))


async def new_workspace(session: AsyncSession) -> uuid.UUID:
    workspace = Workspace(name="Hooks", slug=f"hooks-{uuid.uuid4().hex[:12]}")
    session.add(workspace)
    await session.flush()
    return workspace.id


async def new_endpoint(
    session: AsyncSession,
    settings: Settings,
    workspace_id: uuid.UUID,
    url: str,
    *,
    event_types: list[schemas.EventType] | None = None,
    resolver: Resolver = system_resolver,
) -> tuple[uuid.UUID, str]:
    endpoint, secret = await WebhookService(session, settings, resolver).create(
        caller(workspace_id),
        schemas.WebhookCreate(url=url, event_types=event_types or ["email.opened"]),
    )
    return endpoint.id, secret


def opened(workspace_id: uuid.UUID, n: int = 1) -> OutboundEvent:
    return OutboundEvent(
        workspace_id=workspace_id,
        event_id=f"s:{1700000000000 + n}-0",
        type="email.opened",
        occurred_at=datetime.now(UTC),
        data={"email": f"ann{n}@example.com", "machine": None},
    )


async def one_delivery(session: AsyncSession, workspace_id: uuid.UUID, n: int = 1) -> uuid.UUID:
    before = len(session.jobs.pending)
    assert await fan_out(session, [opened(workspace_id, n)]) == 1
    job = session.jobs.pending[before]
    assert job.task == "webhooks.deliver"
    delivery_id = job.kwargs["delivery_id"]
    assert isinstance(delivery_id, uuid.UUID)
    return delivery_id
