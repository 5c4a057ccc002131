"""Background jobs are declared with `@task` / `@cron` and looked up by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from croniter import croniter  # type: ignore[import-untyped]
from pydantic import ConfigDict, validate_call

if TYPE_CHECKING:
    # Type-only: maily.kit.db imports this package (for JobBuffer).
    from maily.config import Settings
    from maily.kit.db import AsyncSession

P = ParamSpec("P")
R = TypeVar("R")


class JobContext:
    """What a running job gets besides its own arguments."""

    # A plain class, not a dataclass: Pydantic (see `TaskDefinition.run`) then
    # passes it through as it is instead of validating its fields.
    __slots__ = ("attempt", "job_id", "session", "settings", "task")

    def __init__(
        self, *, session: AsyncSession, settings: Settings, job_id: str, task: str, attempt: int
    ) -> None:
        # Open inside the job's transaction: it commits when the job returns and
        # rolls back when it raises. Jobs enqueued on `session.jobs` go out after commit.
        self.session = session
        self.settings = settings
        self.job_id = job_id
        self.task = task
        self.attempt = attempt  # 1 for the first run, 2 for the first retry, …

    def __repr__(self) -> str:
        return f"JobContext(task={self.task!r}, job_id={self.job_id!r}, attempt={self.attempt})"


TaskFunction = Callable[Concatenate[JobContext, P], Awaitable[R]]


class TaskDefinition:
    """A registered job function and its retry / timeout policy."""

    def __init__(
        self,
        name: str,
        function: Callable[..., Awaitable[Any]],
        *,
        retries: int | None,
        timeout_seconds: int | None,
    ) -> None:
        if retries is not None and retries < 0:
            raise ValueError(f"task {name!r}: retries must be >= 0")
        if timeout_seconds is not None and timeout_seconds < 0:
            raise ValueError(f"task {name!r}: timeout_seconds must be >= 0 (0: no timeout)")
        self.name = name
        self.function = function
        self.retries = retries
        self.timeout_seconds = timeout_seconds
        self._validated: Callable[..., Awaitable[Any]] | None = None

    def __repr__(self) -> str:
        return f"TaskDefinition({self.name!r})"

    async def run(self, ctx: JobContext, kwargs: Mapping[str, Any]) -> Any:
        """Call the function with arguments coerced back to their annotated types:
        they crossed Redis as JSON, so a `UUID` arrived as a string. (So the
        function's annotations, `JobContext` included, must resolve at run time.)"""
        if self._validated is None:
            # Built on first use, when every forward reference can be resolved.
            self._validated = validate_call(config=ConfigDict(arbitrary_types_allowed=True))(
                self.function
            )
        return await self._validated(ctx, **kwargs)


@dataclass(frozen=True)
class CronDefinition:
    task: str
    schedule: str
    """Cron syntax, UTC; a sixth field counts seconds."""


class TaskRegistry:
    """Task names mapped to functions. Names are the wire format: renaming a task
    strands the jobs already queued under the old name."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskDefinition] = {}
        self._crons: dict[str, CronDefinition] = {}

    @property
    def tasks(self) -> Mapping[str, TaskDefinition]:
        return self._tasks

    @property
    def crons(self) -> Mapping[str, CronDefinition]:
        return self._crons

    def get(self, name: str) -> TaskDefinition | None:
        return self._tasks.get(name)

    def task(
        self, name: str, *, retries: int | None = None, timeout_seconds: int | None = None
    ) -> Callable[[TaskFunction[P, R]], TaskFunction[P, R]]:
        """Register `async def fn(ctx: JobContext, **kwargs)` as task `name`.

        `retries` counts runs after the first (a crashed worker's run included);
        `timeout_seconds` bounds one run. Both default to the queue settings.
        The function is returned unchanged, so it can be called directly in tests.
        """

        def register(function: TaskFunction[P, R]) -> TaskFunction[P, R]:
            if name in self._tasks:
                raise ValueError(f"task {name!r} is registered twice")
            self._tasks[name] = TaskDefinition(
                name, function, retries=retries, timeout_seconds=timeout_seconds
            )
            return function

        return register

    def cron(
        self,
        name: str,
        schedule: str,
        *,
        retries: int | None = None,
        timeout_seconds: int | None = None,
    ) -> Callable[[TaskFunction[[], R]], TaskFunction[[], R]]:
        """Register `async def fn(ctx: JobContext)` as task `name`, run on `schedule`
        (cron syntax, UTC). At most one run of it is queued or running at a time."""
        if not croniter.is_valid(schedule):
            raise ValueError(f"cron {name!r}: invalid schedule {schedule!r}")

        def register(function: TaskFunction[[], R]) -> TaskFunction[[], R]:
            self.task(name, retries=retries, timeout_seconds=timeout_seconds)(function)
            self._crons[name] = CronDefinition(name, schedule)
            return function

        return register


registry = TaskRegistry()
"""The process-wide registry that domain `tasks.py` modules register into."""

task = registry.task
cron = registry.cron
