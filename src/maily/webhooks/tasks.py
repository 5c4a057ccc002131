"""Background jobs of webhooks, imported by the worker (see workers/registry.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from maily.kit.queue import JobContext, cron, task
from maily.realtime.channels import publish_live
from maily.webhooks.campaign_states import STATE_TASK
from maily.webhooks.client import WebhookClient
from maily.webhooks.delivering import deliver
from maily.webhooks.events import campaign_state_event
from maily.webhooks.repository import WebhookRepository
from maily.webhooks.service import DELIVER_TASK, fan_out

_PRUNE_BATCH = 10_000


@task(DELIVER_TASK, retries=3, timeout_seconds=120)
async def deliver_webhook(ctx: JobContext, workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> None:
    """One attempt; a failed attempt queues the next one itself (with its backoff),
    so the job's own retries only cover crashes and database errors."""
    settings = ctx.settings.webhooks
    await deliver(ctx.session, settings, WebhookClient(settings), workspace_id, delivery_id)


@task(STATE_TASK, retries=5, timeout_seconds=60)
async def campaign_state_changed(
    ctx: JobContext,
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    state: str,
    changed_at: datetime,
    previous: str | None = None,
    reason: str | None = None,
    publish: bool = True,
) -> None:
    """Make the webhook deliveries (once: the event id is derived from the change, so
    a re-run makes none twice) and, unless the mover published it already, tell the
    workspace's live sockets."""
    event = campaign_state_event(
        workspace_id, campaign_id, state, previous=previous, reason=reason, changed_at=changed_at
    )
    await fan_out(ctx.session, [event])
    if publish and ctx.settings.redis.url:
        redis = Redis.from_url(ctx.settings.redis.url)
        try:
            await publish_live(
                redis,
                workspace_id,
                {
                    "type": "campaign.state",
                    "campaign_id": str(campaign_id),
                    "state": state,
                    "previous": previous,
                    "reason": reason,
                },
                prefix=ctx.settings.analytics.live_channel_prefix,
            )
        finally:
            await redis.aclose()


@cron("webhooks.prune_log", "17 3 * * *", timeout_seconds=600)
async def prune_webhook_log(ctx: JobContext) -> None:
    """Keep `log_retention_days` of settled deliveries. One batch per run keeps the
    transaction short; a backlog clears over a few nights."""
    days = ctx.settings.webhooks.log_retention_days
    before = datetime.now(UTC) - timedelta(days=days)
    await WebhookRepository(ctx.session).prune_settled(before, _PRUNE_BATCH)
