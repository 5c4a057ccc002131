"""Typed dependencies that authorise a call in one workspace by permission."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path

from maily.api.deps import PrincipalDep, SessionDep, SettingsDep
from maily.auth.permissions import CATALOGUE
from maily.auth.service import AuthService, WorkspaceContext
from maily.kit.errors import Forbidden


class WorkspaceAccess:
    """Resolves `{workspace_id}` for the caller and demands one permission there.

    A caller with no access to the workspace gets 404, never 403, so ids of other
    workspaces cannot be probed; a member lacking the permission gets 403."""

    def __init__(self, permission: str) -> None:
        if permission not in CATALOGUE:
            raise ValueError(f"unknown permission {permission!r}")
        self.permission = permission

    async def __call__(
        self,
        workspace_id: Annotated[uuid.UUID, Path(description="Workspace id")],
        principal: PrincipalDep,
        session: SessionDep,
        settings: SettingsDep,
    ) -> WorkspaceContext:
        ctx = await AuthService(session, settings).workspace_context(principal, workspace_id)
        if self.permission not in ctx.permissions:
            who = f"the {ctx.role.value} role" if ctx.role else "this API key"
            raise Forbidden(f"{who} does not allow {self.permission}")
        return ctx


WorkspaceRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("workspace:read"))]
WorkspaceWrite = Annotated[WorkspaceContext, Depends(WorkspaceAccess("workspace:write"))]
WorkspaceDelete = Annotated[WorkspaceContext, Depends(WorkspaceAccess("workspace:delete"))]
MembersRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("members:read"))]
MembersWrite = Annotated[WorkspaceContext, Depends(WorkspaceAccess("members:write"))]
APIKeysRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("api_keys:read"))]
APIKeysWrite = Annotated[WorkspaceContext, Depends(WorkspaceAccess("api_keys:write"))]
