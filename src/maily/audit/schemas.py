"""Response models of the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from maily.kit.schemas import ORMSchema


class AuditEntryOut(ORMSchema):
    id: uuid.UUID
    actor: str
    action: str
    target_type: str
    target_id: uuid.UUID | None
    details: dict[str, Any]
    occurred_at: datetime
