"""What `maily ai` runs a task with: the workspace's model, the agent mesh and their stores.

The gRPC servicer only knows a TaskRunner (a task in, progress events out); this module
builds the real one from the settings, so the server and its tests stay apart from how
models and agents are put together."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from redis.asyncio import Redis

from maily.ai import contracts
from maily.ai.checks.spam import SpamdClient
from maily.ai.mesh import MeshDeps, RollupCampaignResults, run_task
from maily.ai.providers import DatabaseUsageSink, workspace_model
from maily.config import Settings
from maily.kit.db import create_engine, create_sessionmaker

TaskRunner = Callable[[contracts.Task], AsyncIterator[contracts.ProgressEvent]]
"""Runs one task; its last event is kind "result" (data: the typed result) or "error".
May raise contracts.ModelUnavailable when no model of the workspace answers."""


@contextlib.asynccontextmanager
async def task_runner(settings: Settings) -> AsyncIterator[TaskRunner]:
    """The runner of this process, with its connections for as long as the block runs.

    Each task gets the workspace's model (its providers in priority order; raises
    ModelUnavailable before the first event when it has none that can be used), the
    mesh's Redis task memory, the workspace's campaign results, the usage ledger and
    SpamAssassin (spamd) for the deliverability analyst."""
    if not settings.database.url or not settings.redis.url:
        raise ValueError("the AI service needs MAILY_DATABASE_URL and MAILY_REDIS_URL")
    pool = max(2, min(settings.ai.max_concurrent_tasks, settings.database.pool_size))
    engine = create_engine(settings.database.url, pool_size=pool, max_overflow=pool)
    sessions = create_sessionmaker(engine)
    redis = Redis.from_url(settings.redis.url)
    results = RollupCampaignResults(sessions)
    usage = DatabaseUsageSink(sessions)
    # The deliverability analyst scores drafts with SpamAssassin; a draft is still
    # judged (with a warning) when spamd does not answer.
    spam = SpamdClient.from_settings(settings.spamd)

    async def run(task: contracts.Task) -> AsyncIterator[contracts.ProgressEvent]:
        async with sessions() as session:
            model = await workspace_model(session, task.workspace_id, settings)
        deps = MeshDeps(model=model, redis=redis, results=results, usage=usage, spam=spam)
        async for event in run_task(task, deps):
            yield event

    try:
        yield run
    finally:
        await redis.aclose()
        await engine.dispose()
