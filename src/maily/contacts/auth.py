"""Typed permission dependencies of the audience domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from maily.auth.auth import WorkspaceAccess
from maily.auth.service import WorkspaceContext

ContactsRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("contacts:read"))]
ContactsWrite = Annotated[WorkspaceContext, Depends(WorkspaceAccess("contacts:write"))]
ContactsExport = Annotated[WorkspaceContext, Depends(WorkspaceAccess("contacts:export"))]
