"""Prometheus metrics of the public tracking endpoints."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

TRACKING_EVENTS: Final = Counter(
    "maily_tracking_events",
    "Events the tracking endpoints stored in the event stream, by kind.",
    ["kind"],
)
TRACKING_EVENTS_LOST: Final = Counter(
    "maily_tracking_events_lost",
    "Opens and clicks answered although their event could not be stored (Redis down), "
    "and unsubscribes refused with 503 for the same reason, by kind.",
    ["kind"],
)
TRACKING_REFUSED: Final = Counter(
    "maily_tracking_refused",
    "Requests answered 404 (a token that does not verify, of the wrong kind, or a "
    "link that is not in the message's link table), by endpoint.",
    ["endpoint"],
)
TRACKING_STREAM_BATCHES: Final = Counter(
    "maily_tracking_stream_batches",
    "Round trips that appended a batch of events to the stream (events per batch: "
    "maily_tracking_events_total over this).",
)
TRACKING_LATENCY: Final = Histogram(
    "maily_tracking_request_duration_seconds",
    "Time from a tracking request's arrival to its answer, by endpoint (open, click, "
    "unsubscribe); opens and clicks include waiting for Redis to take their event.",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
