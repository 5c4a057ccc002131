"""Jobs enqueued during a unit of work, held until its transaction commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PendingJob:
    task: str
    kwargs: dict[str, Any]
    delay_seconds: float | None = None
    key: str | None = None


@dataclass
class JobBuffer:
    pending: list[PendingJob] = field(default_factory=list)

    def enqueue(
        self,
        task: str,
        /,
        *,
        delay_seconds: float | None = None,
        key: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.pending.append(PendingJob(task, kwargs, delay_seconds, key))

    def clear(self) -> None:
        self.pending.clear()

    async def flush(self) -> None:
        if not self.pending:
            return
        from maily.kit.queue import current_queue

        jobs, self.pending = self.pending, []
        queue = current_queue()
        for job in jobs:
            await queue.enqueue(
                job.task, delay_seconds=job.delay_seconds, key=job.key, **job.kwargs
            )
