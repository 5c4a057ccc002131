"""Typed permission dependency of the reports domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from maily.auth.auth import WorkspaceAccess
from maily.auth.service import WorkspaceContext

ReportsRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("reports:read"))]
