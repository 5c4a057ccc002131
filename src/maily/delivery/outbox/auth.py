"""Typed permission dependencies of the outbox viewer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from maily.auth.auth import WorkspaceAccess
from maily.auth.service import WorkspaceContext

SendingRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("sending:read"))]
SendingWrite = Annotated[WorkspaceContext, Depends(WorkspaceAccess("sending:write"))]
