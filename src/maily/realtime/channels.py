"""The live channel of a workspace on Redis pub/sub, `maily:live:<workspace_id>` (the
prefix is `analytics.live_channel_prefix`).

Anything any process publishes there (campaign progress from the senders and the
analytics service, campaign state changes) reaches every WebSocket of that
workspace on every API replica. Publishing is best effort: a lost message costs a
stale figure on a screen, never data."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from maily.kit.logging import get_logger

CHANNEL_PREFIX = "maily:live:"  # the default of analytics.live_channel_prefix

_log = get_logger("maily.realtime")


def live_channel(workspace_id: uuid.UUID, prefix: str = CHANNEL_PREFIX) -> str:
    return f"{prefix}{workspace_id}"


def workspace_of(channel: str, prefix: str = CHANNEL_PREFIX) -> uuid.UUID | None:
    if not channel.startswith(prefix):
        return None
    try:
        return uuid.UUID(channel[len(prefix) :])
    except ValueError:
        return None


async def publish_live(
    redis: Redis,
    workspace_id: uuid.UUID,
    message: Mapping[str, object],
    *,
    prefix: str = CHANNEL_PREFIX,
) -> int:
    """Publish one JSON message; returns how many API processes received it (0 on error)."""
    try:
        return int(await redis.publish(live_channel(workspace_id, prefix), json.dumps(message)))
    except RedisError as exc:
        _log.warning("live message not published", error=str(exc))
        return 0
