"""Prometheus metrics of the analytics consumer."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

EVENTS_INGESTED: Final = Counter(
    "maily_analytics_events_ingested",
    "Events stored for the first time, by kind (a replayed entry is not counted again).",
    ["kind"],
)
ENTRIES_DROPPED: Final = Counter(
    "maily_analytics_entries_dropped",
    "Stream entries acknowledged without storing an event: undecodable, naming no "
    "delivery (unknown_delivery), stored already (duplicate), or refused by PostgreSQL "
    "on their own (unstorable).",
    ["reason"],
)
ENTRIES_DEFERRED: Final = Counter(
    "maily_analytics_entries_deferred",
    "Entries left for the next pass because their delivery row was locked elsewhere.",
)
ENTRIES_CLAIMED: Final = Counter(
    "maily_analytics_entries_claimed",
    "Entries taken over from a consumer that stopped acknowledging (XAUTOCLAIM).",
)
BATCH_DURATION: Final = Histogram(
    "maily_analytics_batch_duration_seconds",
    "From reading a batch to acknowledging it (transaction included).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BATCH_FAILURES: Final = Counter(
    "maily_analytics_batch_failures",
    "Batches rolled back (database or Redis trouble); their entries are read again.",
)
CONSUMER_LAG: Final = Gauge(
    "maily_analytics_consumer_lag",
    "Entries in the stream the analytics group has not read yet.",
)
CONSUMER_PENDING: Final = Gauge(
    "maily_analytics_consumer_pending",
    "Entries the analytics group has read but not acknowledged.",
)
CAMPAIGNS_PAUSED: Final = Counter(
    "maily_analytics_campaigns_paused",
    "Campaigns the deliverability guard paused, by the rate that crossed its limit.",
    ["rate"],
)
