"""All SQL for the audit log, always scoped to one workspace."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import String, cast, func, select, update
from sqlalchemy.dialects.postgresql import JSONB

from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams, paginate
from maily.models import AuditEntry


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, entry: AuditEntry) -> AuditEntry:
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def list(
        self,
        workspace_id: uuid.UUID,
        page: PageParams,
        *,
        action: str | None = None,
        target_type: str | None = None,
        target_id: uuid.UUID | None = None,
    ) -> list[AuditEntry]:
        """Newest first: ids are UUIDv7, so `id < cursor` walks back in time."""
        query = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        if target_type is not None:
            query = query.where(AuditEntry.target_type == target_type)
        if target_id is not None:
            query = query.where(AuditEntry.target_id == target_id)
        query = paginate(query, AuditEntry.id, page, newest_first=True)
        return list((await self.session.execute(query)).scalars())

    async def redact(self, workspace_id: uuid.UUID, secret: str, replacement: str) -> int:
        """Replace `secret`, in any letter case, wherever it occurs in the details of
        the workspace's entries.

        Works on the JSON text, so `secret` and `replacement` must need no JSON escaping
        (true of normalised addresses) and `replacement` no regex escaping."""
        text = cast(AuditEntry.details, String)
        # Python's escaping only adds backslashes before non-alphanumerics, which
        # PostgreSQL's regular expressions read as those characters themselves.
        pattern = re.escape(secret)
        result = await self.session.execute(
            update(AuditEntry)
            .where(AuditEntry.workspace_id == workspace_id, text.regexp_match(pattern, "i"))
            .values(details=cast(func.regexp_replace(text, pattern, replacement, "gi"), JSONB))
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
