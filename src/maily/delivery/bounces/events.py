"""Stream events for bounces, complaints and deliveries, in the tracking event contract
(`maily.analytics.stream`): kind bounce | complaint | delivered, with bt/code/diag/src."""

from __future__ import annotations

import uuid
from datetime import datetime

from maily.analytics.stream import BounceType, EventKind, TrackingEvent
from maily.delivery.bounces.feedback import FeedbackKind, Source

_KINDS = {
    FeedbackKind.hard: (EventKind.bounce, BounceType.hard),
    FeedbackKind.soft: (EventKind.bounce, BounceType.soft),
    FeedbackKind.complaint: (EventKind.complaint, BounceType.complaint),
    FeedbackKind.delivered: (EventKind.delivered, None),
}


def feedback_event(
    kind: FeedbackKind,
    delivery_id: uuid.UUID,
    occurred_at: datetime,
    *,
    source: Source,
    code: str = "",
    diagnostic: str = "",
) -> TrackingEvent:
    event_kind, bounce_type = _KINDS[kind]
    return TrackingEvent(
        kind=event_kind,
        delivery_id=delivery_id,
        at_ms=int(occurred_at.timestamp() * 1000),
        bounce_type=bounce_type,
        code=code if bounce_type is not None else "",
        diagnostic=diagnostic if bounce_type is not None else "",
        source=source.value,
    )
