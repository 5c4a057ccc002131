"""Live progress and the cancel flag of running imports, kept in Redis.

An import job writes to PostgreSQL in one transaction that nobody sees until it
commits, so what it has done so far is published here instead, and the API reads it
from here first. A cancel request is a flag the job looks at between batches."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any

from redis.asyncio import Redis

__all__ = ["Phase", "ProgressStore", "Snapshot"]

# Long enough to read the counters of a finished import for a while after; the
# row holds the durable ones.
_TTL_SECONDS = 7 * 24 * 3600

Phase = str  # reading | merging | subscribing | reporting | done


@dataclass
class Snapshot:
    """What a running (or just finished) import has done."""

    status: str = "running"  # running | completed | failed | cancelled
    phase: Phase = "reading"
    bytes_read: int = 0
    bytes_total: int = 0
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    invalid: int = 0
    duplicates: int = 0
    role: int = 0
    suppressed: int = 0
    warnings: int = 0
    subscribed: int = 0
    started_at: float = 0.0
    updated_at: float = 0.0
    finished_at: float = 0.0

    @property
    def rows_per_second(self) -> float:
        end = self.finished_at or self.updated_at
        elapsed = end - self.started_at
        return round(self.rows / elapsed, 1) if self.rows and elapsed > 0 else 0.0

    @property
    def percent(self) -> float:
        """Reading is measured by bytes; the merge is one statement that reports
        nothing until it ends, so it shows as a fixed share of the work."""
        if self.status != "running":
            return 100.0
        if self.phase == "reading":
            read = self.bytes_read / self.bytes_total if self.bytes_total else 0.0
            return round(min(read, 1.0) * _READING_SHARE, 1)
        return {"merging": _READING_SHARE, "subscribing": 90.0, "reporting": 95.0}.get(
            self.phase, 99.0
        )


# Share of the bar given to reading the file: about its share of the time on a big
# file (bench/import_contacts.py); the merge into contacts takes most of the rest.
_READING_SHARE = 20.0
_INT_FIELDS = {f.name for f in fields(Snapshot) if type(f.default) is int}
_FLOAT_FIELDS = {f.name for f in fields(Snapshot) if type(f.default) is float}


class ProgressStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @staticmethod
    def _key(import_id: uuid.UUID, what: str) -> str:
        return f"maily:contact-imports:{import_id}:{what}"

    async def publish(self, import_id: uuid.UUID, snapshot: Snapshot) -> None:
        snapshot.updated_at = time.time()
        key = self._key(import_id, "progress")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={k: str(v) for k, v in asdict(snapshot).items()})
            pipe.expire(key, _TTL_SECONDS)
            await pipe.execute()

    async def read(self, import_id: uuid.UUID) -> Snapshot | None:
        raw: dict[bytes | str, bytes | str] = await self.redis.hgetall(  # type: ignore[misc]
            self._key(import_id, "progress")
        )
        if not raw:
            return None
        values: dict[str, Any] = {}
        for key, value in raw.items():
            name = key.decode() if isinstance(key, bytes) else key
            text = value.decode() if isinstance(value, bytes) else value
            if name in _INT_FIELDS:
                values[name] = int(text)
            elif name in _FLOAT_FIELDS:
                values[name] = float(text)
            elif name in ("status", "phase"):
                values[name] = text
        return Snapshot(**values)

    async def request_cancel(self, import_id: uuid.UUID) -> None:
        await self.redis.set(self._key(import_id, "cancel"), b"1", ex=_TTL_SECONDS)

    async def cancel_requested(self, import_id: uuid.UUID) -> bool:
        return bool(await self.redis.exists(self._key(import_id, "cancel")))
