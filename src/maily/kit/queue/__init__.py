"""Background jobs: declare them with `@task` / `@cron`, send them with `JobQueue`.

During a request or a job, enqueue on `session.jobs` (a `JobBuffer`): the jobs
go out only after the transaction commits. See docs/adr/0001-job-queue.md.
"""

from maily.kit.queue.backoff import retry_delay
from maily.kit.queue.buffer import JobBuffer, PendingJob
from maily.kit.queue.redis_queue import (
    JobInfo,
    JobQueue,
    JobStatus,
    current_queue,
    set_current_queue,
)
from maily.kit.queue.tasks import (
    CronDefinition,
    JobContext,
    TaskDefinition,
    TaskRegistry,
    cron,
    registry,
    task,
)

__all__ = [
    "CronDefinition",
    "JobBuffer",
    "JobContext",
    "JobInfo",
    "JobQueue",
    "JobStatus",
    "PendingJob",
    "TaskDefinition",
    "TaskRegistry",
    "cron",
    "current_queue",
    "registry",
    "retry_delay",
    "set_current_queue",
    "task",
]
