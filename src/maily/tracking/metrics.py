"""Prometheus metrics of the public tracking endpoints.

The two that every open and click updates — events stored, and the request-duration
histogram — are plain integers and floats kept by the endpoints and turned into metric
families only when `/metrics` is scraped (a custom collector). prometheus_client's own
Counter and Histogram take a lock and walk the buckets in Python on every update: on
the request path that was about 2 µs of a ~10 µs request. The endpoints run on one
event-loop thread per process, so nothing else writes these numbers while they change.
The rarer ones (lost events, refusals, batches) stay ordinary prometheus_client metrics."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Final

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "TRACKING_EVENTS",
    "TRACKING_EVENTS_LOST",
    "TRACKING_LATENCY",
    "TRACKING_REFUSED",
    "TRACKING_STREAM_BATCHES",
    "EventTally",
    "LatencyHistogram",
]

LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class EventTally:
    """Events stored in the stream, one integer per kind."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, kind: str, count: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + count

    def value(self, kind: str) -> int:
        return self.counts.get(kind, 0)


class LatencyHistogram:
    """One endpoint's request durations: a count per bucket (the last one is +Inf)
    and their sum, in seconds. `observe` is one bisect and two additions."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        # A bucket counts durations up to and including its bound (Prometheus' `le`).
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            buckets.append((bound, running))
        return buckets


class _FamilyCollector(Collector):
    """One metric family read from plain numbers; `describe` gives it empty, so the
    registry knows its names without a scrape."""

    # Named as on prometheus_client's own metrics, for tools that read label names off
    # the registry's collectors.
    _labelnames: tuple[str, ...] = ()

    def _family(self) -> Metric:
        raise NotImplementedError

    def describe(self) -> Iterator[Metric]:
        yield self._family()


class _EventsCollector(_FamilyCollector):
    """`maily_tracking_events_total{kind}` from an EventTally."""

    _labelnames = ("kind",)

    def __init__(self, events: EventTally) -> None:
        self.events = events

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(
            "maily_tracking_events",
            "Events the tracking endpoints stored in the event stream, by kind.",
            labels=self._labelnames,
        )

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for kind, count in sorted(self.events.counts.items()):
            family.add_metric([kind], count)
        yield family


class _LatencyCollector(_FamilyCollector):
    """`maily_tracking_request_duration_seconds{endpoint}` from LatencyHistograms."""

    _labelnames = ("endpoint",)

    def __init__(self, latency: dict[str, LatencyHistogram]) -> None:
        self.latency = latency

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(
            "maily_tracking_request_duration_seconds",
            "Time from a tracking request's arrival to its answer, by endpoint (open, "
            "click, unsubscribe); opens and clicks include waiting for Redis to take "
            "their event.",
            labels=self._labelnames,
        )

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for endpoint, histogram in sorted(self.latency.items()):
            family.add_metric([endpoint], histogram.cumulative(), histogram.total)
        yield family


TRACKING_EVENTS: Final = EventTally()
TRACKING_LATENCY: Final = {
    endpoint: LatencyHistogram() for endpoint in ("open", "click", "unsubscribe")
}
REGISTRY.register(_EventsCollector(TRACKING_EVENTS))
REGISTRY.register(_LatencyCollector(TRACKING_LATENCY))

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
