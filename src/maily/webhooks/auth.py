"""Typed permission dependencies of webhooks: reading the log needs sending:read,
changing endpoints sending:write."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from maily.auth.auth import WorkspaceAccess
from maily.auth.service import WorkspaceContext

WebhooksRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("sending:read"))]
WebhooksWrite = Annotated[WorkspaceContext, Depends(WorkspaceAccess("sending:write"))]
