"""Background jobs of contact imports: the import itself, and discarding its file after."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from maily.contacts.imports.job import ImportJob, discard_source
from maily.contacts.imports.progress import ProgressStore
from maily.contacts.imports.service import DISCARD_TASK, IMPORT_TASK
from maily.kit.queue import JobContext, task
from maily.kit.storage import storage_from_settings

# Runs after the first; on the last one a failure is recorded on the import instead
# of being raised, so an import never stays "queued" forever.
IMPORT_RETRIES = 3


@task(IMPORT_TASK, retries=IMPORT_RETRIES, timeout_seconds=6 * 3600)
async def import_contacts(
    ctx: JobContext, *, workspace_id: uuid.UUID, import_id: uuid.UUID
) -> None:
    if not ctx.settings.redis.url:
        raise RuntimeError("contact imports need Redis for their progress: set MAILY_REDIS_URL")
    storage = storage_from_settings(ctx.settings)
    redis = Redis.from_url(ctx.settings.redis.url)
    try:
        job = ImportJob(ctx.session, storage, ProgressStore(redis))
        await job.run(workspace_id, import_id, final_attempt=ctx.attempt > IMPORT_RETRIES)
    finally:
        await redis.aclose()
        await storage.aclose()


@task(DISCARD_TASK, retries=IMPORT_RETRIES)
async def discard_import_file(
    ctx: JobContext, *, workspace_id: uuid.UUID, import_id: uuid.UUID
) -> None:
    storage = storage_from_settings(ctx.settings)
    try:
        await discard_source(ctx.session, storage, workspace_id, import_id)
    finally:
        await storage.aclose()
