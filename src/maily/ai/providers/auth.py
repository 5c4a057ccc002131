"""Typed permission dependency of AI provider settings and usage: ai:manage."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from maily.auth.auth import WorkspaceAccess
from maily.auth.service import WorkspaceContext

AIManage = Annotated[WorkspaceContext, Depends(WorkspaceAccess("ai:manage"))]
