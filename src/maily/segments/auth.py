"""Typed permission dependencies of the segments domain (segments are part of the audience)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from maily.auth.auth import WorkspaceAccess
from maily.auth.service import WorkspaceContext

SegmentsRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("contacts:read"))]
SegmentsWrite = Annotated[WorkspaceContext, Depends(WorkspaceAccess("contacts:write"))]
