"""Live campaign progress on Redis pub/sub, for the API's WebSocket to push to browsers.

Channel `maily:live:{workspace_id}` (maily.realtime.channels); each message is JSON:
  {"type": "campaign.progress", "campaign_id": ..., "changed": {"sent": 480, ...}}
after each sender batch — how many rows of the campaign reached each state in that
batch (totals: GET /campaigns/{id}/progress) — and
  {"type": "campaign.state", "campaign_id": ..., "state": "sending", "previous": null,
   "reason": null}
when the scheduler or a sender moves a campaign along. Publishing is best effort: a
lost message costs a stale counter on a screen, never a delivery. Given a job queue,
a state change also queues the `campaign.state_changed` webhooks (after the commit
that made the change: callers publish once their transaction is over)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from maily.config import Settings
from maily.kit.logging import get_logger
from maily.kit.queue import JobQueue
from maily.realtime.channels import CHANNEL_PREFIX, live_channel, publish_live
from maily.webhooks.campaign_states import STATE_TASK, state_job_kwargs

_log = get_logger("maily.campaigns.progress")


async def state_queue(settings: Settings) -> JobQueue | None:
    """A connected job queue for a publisher's state webhooks; None without Redis."""
    if not settings.redis.url:
        return None
    queue = JobQueue.from_url(settings.redis.url, settings)
    await queue.connect()
    return queue


def channel(workspace_id: uuid.UUID) -> str:
    return live_channel(workspace_id)


class ProgressPublisher:
    def __init__(
        self, redis: Redis | None, queue: JobQueue | None = None, prefix: str = CHANNEL_PREFIX
    ) -> None:
        self.redis = redis
        self.queue = queue
        self.prefix = prefix

    async def _publish(self, workspace_id: uuid.UUID, message: Mapping[str, object]) -> None:
        if self.redis is None:
            return
        await publish_live(self.redis, workspace_id, message, prefix=self.prefix)

    async def changed(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, counts: Mapping[str, int]
    ) -> None:
        await self._publish(
            workspace_id,
            {"type": "campaign.progress", "campaign_id": str(campaign_id), "changed": dict(counts)},
        )

    async def status(
        self,
        workspace_id: uuid.UUID,
        campaign_id: uuid.UUID,
        status: str,
        *,
        reason: str | None = None,
    ) -> None:
        await self._publish(
            workspace_id,
            {
                "type": "campaign.state",
                "campaign_id": str(campaign_id),
                "state": status,
                "previous": None,
                "reason": reason,
            },
        )
        if self.queue is None:
            return
        key, kwargs = state_job_kwargs(
            workspace_id, campaign_id, status, previous=None, reason=reason
        )
        try:
            # Published above already: the job only makes the webhook deliveries.
            await self.queue.enqueue(STATE_TASK, key=key, publish=False, **kwargs)
        except (RedisError, OSError) as exc:
            _log.warning("campaign state webhooks not queued", error=str(exc))
