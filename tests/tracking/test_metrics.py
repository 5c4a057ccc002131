"""The request-path metrics kept as plain numbers, as Prometheus reads them."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

from maily.tracking.metrics import TRACKING_EVENTS, TRACKING_LATENCY, LatencyHistogram


def test_a_duration_on_a_bound_counts_in_that_bucket_and_every_later_one() -> None:
    histogram = LatencyHistogram((0.001, 0.01, 0.1))
    for seconds in (0.0002, 0.001, 0.005, 0.01, 0.5):
        histogram.observe(seconds)
    assert histogram.cumulative() == [("0.001", 2), ("0.01", 4), ("0.1", 4), ("+Inf", 5)]
    assert histogram.total == 0.0002 + 0.001 + 0.005 + 0.01 + 0.5


def test_the_scrape_shows_stored_events_and_durations_by_label() -> None:
    opens = TRACKING_EVENTS.value("open")
    counted = TRACKING_LATENCY["click"].cumulative()[-1][1]
    TRACKING_EVENTS.add("open", 3)
    TRACKING_LATENCY["click"].observe(0.003)
    text = generate_latest(REGISTRY).decode()
    assert f'maily_tracking_events_total{{kind="open"}} {float(opens + 3)}' in text
    assert (
        f'maily_tracking_request_duration_seconds_count{{endpoint="click"}} {float(counted + 1)}'
        in text
    )
    assert 'maily_tracking_request_duration_seconds_bucket{endpoint="click",le="+Inf"}' in text
