"""The background job that writes a contact export to object storage."""

from __future__ import annotations

import uuid

from maily.contacts.exports.service import EXPORT_TASK, ExportService
from maily.kit.queue import JobContext, task
from maily.kit.storage import storage_from_settings

# Runs after the first; on the last one any failure is recorded on the export
# instead of being raised, so an export never stays "queued" forever.
EXPORT_RETRIES = 3


@task(EXPORT_TASK, retries=EXPORT_RETRIES, timeout_seconds=6 * 3600)
async def export_contacts(
    ctx: JobContext, *, workspace_id: uuid.UUID, export_id: uuid.UUID
) -> None:
    storage = storage_from_settings(ctx.settings)
    try:
        await ExportService(ctx.session).run(
            workspace_id, export_id, storage, final_attempt=ctx.attempt > EXPORT_RETRIES
        )
    finally:
        await storage.aclose()
