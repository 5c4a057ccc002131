"""Live campaign progress on Redis pub/sub, for the API's WebSocket to push to browsers.

Channel `maily:ws:{workspace_id}:campaigns`; each message is JSON:
  {"type": "campaign.progress", "campaign_id": ..., "changed": {"sent": 480, ...}}
after each sender batch — how many rows of the campaign reached each state in that
batch (totals: GET /campaigns/{id}/progress) — and
  {"type": "campaign.status", "campaign_id": ..., "status": "sending"}
when the scheduler moves a campaign along. Publishing is best effort: a lost
message costs a stale counter on a screen, never a delivery."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from maily.kit.logging import get_logger

_log = get_logger("maily.campaigns.progress")


def channel(workspace_id: uuid.UUID) -> str:
    return f"maily:ws:{workspace_id}:campaigns"


class ProgressPublisher:
    def __init__(self, redis: Redis | None) -> None:
        self.redis = redis

    async def _publish(self, workspace_id: uuid.UUID, message: Mapping[str, object]) -> None:
        if self.redis is None:
            return
        try:
            await self.redis.publish(channel(workspace_id), json.dumps(message))
        except RedisError as exc:
            _log.warning("progress not published", error=str(exc))

    async def changed(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, counts: Mapping[str, int]
    ) -> None:
        await self._publish(
            workspace_id,
            {"type": "campaign.progress", "campaign_id": str(campaign_id), "changed": dict(counts)},
        )

    async def status(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, status: str) -> None:
        await self._publish(
            workspace_id,
            {"type": "campaign.status", "campaign_id": str(campaign_id), "status": status},
        )
