"""Typed permission dependencies of the campaigns domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from maily.auth.auth import WorkspaceAccess
from maily.auth.service import WorkspaceContext

CampaignsRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess("campaigns:read"))]
CampaignsWrite = Annotated[WorkspaceContext, Depends(WorkspaceAccess("campaigns:write"))]
CampaignsSend = Annotated[WorkspaceContext, Depends(WorkspaceAccess("campaigns:send"))]
