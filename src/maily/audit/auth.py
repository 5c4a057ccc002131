"""Typed permission dependency for reading the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from maily.auth.auth import WorkspaceAccess
from maily.auth.service import WorkspaceContext

# The log says which member did what (who exported the contacts, who erased a person),
# so it is shown to those who may see the team: members:read, not workspace:read,
# which viewers hold without seeing the team.
AuditRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("members:read"))]
