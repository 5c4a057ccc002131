"""Backlog gauges: what waits in the delivery ledger, the event stream and the job queue.

The active scheduler samples them (one instance, so each figure is one series rather
than one per replica, and a standby exports none). They are cluster-wide figures for
operators, so the ledger query spans every workspace: it reads only the partial
indexes of unsettled rows, which hold what is waiting and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.kit.logging import get_logger

_log = get_logger("maily.ops.backlog")

# How often the active scheduler samples; Prometheus scrapes every 15-60 s.
SAMPLE_INTERVAL_SECONDS: Final = 30.0

LEDGER_BACKLOG: Final = Gauge(
    "maily_ledger_backlog",
    "Unsettled ledger rows: due (queued or deferred, send time passed), scheduled "
    "(send time ahead), leased (with a sender), expired_lease (leased by a sender that "
    "stopped renewing).",
    ["state"],
)
LEDGER_OLDEST_DUE: Final = Gauge(
    "maily_ledger_oldest_due_seconds",
    "How long the longest-waiting due ledger row has been due (0 when none is).",
)
STREAM_LENGTH: Final = Gauge(
    "maily_stream_length",
    "Entries in an event stream (trimmed once every group acknowledged).",
    ["stream"],
)
STREAM_CONSUMER_LAG: Final = Gauge(
    "maily_stream_consumer_lag",
    "Entries of a stream a consumer group has not read yet.",
    ["stream", "group"],
)
STREAM_PENDING: Final = Gauge(
    "maily_stream_pending",
    "Entries a consumer group read but has not acknowledged.",
    ["stream", "group"],
)
QUEUE_DEPTH: Final = Gauge(
    "maily_queue_depth", "Jobs ready to run and waiting for a worker.", ["queue"]
)

_LABELLED: Final = (
    LEDGER_BACKLOG,
    STREAM_LENGTH,
    STREAM_CONSUMER_LAG,
    STREAM_PENDING,
    QUEUE_DEPTH,
)

# Each count reads one partial index of models/delivery.py (ix_deliveries_due,
# ix_deliveries_lease_expires: only leased rows have a lease_expires_at).
_LEDGER_SQL: Final = text(
    """
    SELECT
        (SELECT count(*) FROM deliveries
          WHERE status IN ('queued', 'deferred') AND send_after <= now()) AS due,
        (SELECT count(*) FROM deliveries
          WHERE status IN ('queued', 'deferred') AND send_after > now()) AS scheduled,
        (SELECT count(*) FROM deliveries
          WHERE lease_expires_at IS NOT NULL AND status = 'leased') AS leased,
        (SELECT count(*) FROM deliveries
          WHERE status = 'leased' AND lease_expires_at < now()) AS expired_lease,
        (SELECT coalesce(extract(epoch FROM now() - min(send_after)), 0) FROM deliveries
          WHERE status IN ('queued', 'deferred') AND send_after <= now()) AS oldest_due
    """
)


@dataclass
class BacklogSample:
    ledger: dict[str, int] = field(default_factory=dict)
    oldest_due_seconds: float = 0.0
    stream_length: int | None = None
    # group -> (lag, pending); lag is None where Redis cannot tell (before 7.0).
    groups: dict[str, tuple[int | None, int]] = field(default_factory=dict)
    queue_depth: int | None = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def stream_groups(redis: Any, stream: str) -> dict[str, tuple[int | None, int]]:
    """XINFO GROUPS of `stream`: group -> (lag, pending). A missing stream has none."""
    try:
        groups = await redis.xinfo_groups(stream)
    except Exception as exc:  # redis-py raises ResponseError "no such key"
        if "no such key" in str(exc).lower():
            return {}
        raise
    found: dict[str, tuple[int | None, int]] = {}
    for group in groups:
        info = {_text(k): v for k, v in group.items()}
        lag = info.get("lag")
        found[_text(info["name"])] = (None if lag is None else int(lag), int(info["pending"]))
    return found


class BacklogSampler:
    """Reads the figures and sets the gauges."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        redis: Any | None = None,
        stream_keys: Sequence[str] = (),
        queue_name: str = "",
        queue_depth: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.stream_keys = tuple(stream_keys)
        self.queue_name = queue_name
        self.queue_depth = queue_depth

    async def sample(self) -> BacklogSample:
        sample = BacklogSample()
        async with self.engine.connect() as connection:
            row = (await connection.execute(_LEDGER_SQL)).mappings().one()
        sample.ledger = {
            state: int(row[state]) for state in ("due", "scheduled", "leased", "expired_lease")
        }
        sample.oldest_due_seconds = float(row["oldest_due"])
        for state, count in sample.ledger.items():
            LEDGER_BACKLOG.labels(state).set(count)
        LEDGER_OLDEST_DUE.set(sample.oldest_due_seconds)
        if self.redis is not None:
            for stream in self.stream_keys:
                sample.stream_length = int(await self.redis.xlen(stream))
                STREAM_LENGTH.labels(stream).set(sample.stream_length)
                sample.groups = await stream_groups(self.redis, stream)
                for group, (lag, pending) in sample.groups.items():
                    if lag is not None:
                        STREAM_CONSUMER_LAG.labels(stream, group).set(lag)
                    STREAM_PENDING.labels(stream, group).set(pending)
        if self.queue_depth is not None:
            sample.queue_depth = await self.queue_depth()
            QUEUE_DEPTH.labels(self.queue_name).set(sample.queue_depth)
        return sample

    @staticmethod
    def clear() -> None:
        """A standby exports no backlog series (and an oldest-due age of 0): the active
        instance's figures are the only ones; rules aggregate with max()."""
        for gauge in _LABELLED:
            gauge.clear()
        LEDGER_OLDEST_DUE.set(0)

    async def run(
        self,
        stop: asyncio.Event,
        is_active: Callable[[], bool],
        interval: float = SAMPLE_INTERVAL_SECONDS,
    ) -> None:
        """Sample every `interval` seconds while `is_active()`, until `stop` is set."""
        while not stop.is_set():
            if is_active():
                try:
                    await self.sample()
                except Exception:
                    _log.exception("backlog sample failed")
            else:
                self.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
        self.clear()
