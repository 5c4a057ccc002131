"""Typed permission dependencies of the templates domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from maily.auth.auth import WorkspaceAccess
from maily.auth.service import WorkspaceContext

TemplatesRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("templates:read"))]
TemplatesWrite = Annotated[WorkspaceContext, Depends(WorkspaceAccess("templates:write"))]
