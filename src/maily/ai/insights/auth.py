"""Typed permission dependencies of the insights: reading them is reading reports;
checking content is reading templates."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from maily.auth.auth import WorkspaceAccess
from maily.auth.service import WorkspaceContext

InsightsRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("reports:read"))]
ContentCheckAccess = Annotated[WorkspaceContext, Depends(WorkspaceAccess("templates:read"))]
