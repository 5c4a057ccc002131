"""Typed permission dependency of the AI assistant: everything needs ai:use (accepting
a suggestion also templates:write, checked in the service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from maily.auth.auth import WorkspaceAccess
from maily.auth.service import WorkspaceContext

AIUse = Annotated[WorkspaceContext, Depends(WorkspaceAccess("ai:use"))]
