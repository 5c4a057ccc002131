"""Stream entries for bounces, complaints and deliveries, in the tracking event contract.

One Redis stream (`maily:events`) carries every engagement event; the analytics
service counts them. Fields are strings: k kind, d delivery id (32 hex), t epoch ms,
and for bounces and complaints bt (hard|soft|complaint), code, diag, src."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from redis.asyncio import Redis

from maily.delivery.bounces.feedback import DIAGNOSTIC_LIMIT, FeedbackKind, Source

STREAM_KEY = "maily:events"


def feedback_event(
    kind: FeedbackKind,
    delivery_id: uuid.UUID,
    occurred_at: datetime,
    *,
    source: Source,
    code: str = "",
    diagnostic: str = "",
) -> dict[str, str]:
    fields = {
        "k": "delivered"
        if kind is FeedbackKind.delivered
        else ("complaint" if kind is FeedbackKind.complaint else "bounce"),
        "d": delivery_id.hex,
        "t": str(int(occurred_at.timestamp() * 1000)),
        "src": source.value,
    }
    if kind is not FeedbackKind.delivered:
        fields["bt"] = kind.value
        fields["code"] = code
        fields["diag"] = diagnostic[:DIAGNOSTIC_LIMIT]
    return fields


async def append_events(
    redis: Redis, events: Sequence[dict[str, str]], key: str = STREAM_KEY
) -> None:
    if not events:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for fields in events:
            pipe.xadd(key, fields)  # type: ignore[arg-type]
        await pipe.execute()
