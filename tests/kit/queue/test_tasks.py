"""Registering tasks, and the retry delay policy."""

from __future__ import annotations

import pytest

from maily.kit.queue import JobContext, TaskRegistry, retry_delay


def test_task_registers_function_and_returns_it_unchanged() -> None:
    registry = TaskRegistry()

    async def send_digest(ctx: JobContext, *, workspace_id: str) -> None: ...

    assert registry.task("digest.send", retries=2, timeout_seconds=30)(send_digest) is send_digest
    definition = registry.get("digest.send")
    assert definition is not None
    assert (definition.function, definition.retries, definition.timeout_seconds) == (
        send_digest,
        2,
        30,
    )


def test_task_name_is_registered_once() -> None:
    registry = TaskRegistry()

    @registry.task("dup")
    async def first(ctx: JobContext) -> None: ...

    with pytest.raises(ValueError, match="twice"):

        @registry.task("dup")
        async def second(ctx: JobContext) -> None: ...


def test_cron_registers_task_and_schedule() -> None:
    registry = TaskRegistry()

    @registry.cron("rollups.hourly", "5 * * * *")
    async def hourly(ctx: JobContext) -> None: ...

    assert "rollups.hourly" in registry.tasks
    assert registry.crons["rollups.hourly"].schedule == "5 * * * *"


def test_cron_refuses_invalid_schedule() -> None:
    with pytest.raises(ValueError, match="invalid schedule"):
        TaskRegistry().cron("bad", "every tuesday")


def test_retry_delay_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    def delays(rand: float) -> list[float]:
        return [
            retry_delay(attempt, base_seconds=1.0, max_seconds=5.0, rand=lambda: rand)
            for attempt in range(1, 6)
        ]

    assert delays(1.0) == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert delays(0.0) == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert retry_delay(10_000, base_seconds=1.0, max_seconds=60.0) <= 60.0
