"""Recording and reading audit entries; what an entry may hold is decided here."""

from __future__ import annotations

import uuid
from typing import Any

from maily.audit.repository import AuditRepository
from maily.auth.service import WorkspaceContext
from maily.kit.db import AsyncSession
from maily.models import AuditEntry

SYSTEM_ACTOR = "system"


def actor_of(ctx: WorkspaceContext) -> str:
    """`user:<id>` or `key:<id>`: who acted, as the audit log names them."""
    return ctx.principal.key


async def record_audit(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    actor: str,
    action: str,
    target_type: str,
    target_id: uuid.UUID | None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry to the workspace's audit log, inside the caller's transaction,
    so the entry exists exactly when the action it records does.

    `details` is kept for as long as the workspace exists and survives a contact's
    erasure: never put an email address or other personal data in it (use the
    address's SHA-256, as `contacts.privacy` does)."""
    return await AuditRepository(session).add(
        AuditEntry(
            workspace_id=workspace_id,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details or {},
        )
    )
