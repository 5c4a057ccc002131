"""Appending to the event stream counts events by kind (complaint rates start here)."""

from __future__ import annotations

import time
import uuid

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from maily.analytics.stream import EventKind, TrackingEvent, append_events


def appended(kind: str) -> float:
    return REGISTRY.get_sample_value("maily_events_appended_total", {"kind": kind}) or 0.0


async def test_appended_events_are_counted_by_kind(redis: Redis) -> None:
    now = int(time.time() * 1000)
    events = [
        TrackingEvent(EventKind.open, uuid.uuid4(), now),
        TrackingEvent(EventKind.open, uuid.uuid4(), now),
        TrackingEvent(EventKind.complaint, uuid.uuid4(), now),
    ]
    before = {k: appended(k) for k in ("open", "complaint", "click")}
    ids = await append_events(redis, f"test:events:{uuid.uuid4().hex[:8]}", events)
    assert len(ids) == 3
    assert {k: appended(k) - before[k] for k in before} == {"open": 2, "complaint": 1, "click": 0}


async def test_appending_nothing_counts_nothing(redis: Redis) -> None:
    before = appended("open")
    assert await append_events(redis, "test:events:none", []) == []
    assert appended("open") == before
