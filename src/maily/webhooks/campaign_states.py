"""Campaign state changes, announced after commit: on the live channel of the workspace
(for its WebSockets) and to the webhooks that subscribe to `campaign.state_changed`.

Whoever moves a campaign calls `announce_state_change` inside the transaction that
moves it; the job it buffers goes out only once that transaction commits, so
nobody hears of a move that was rolled back. Processes without a job queue (a
scheduler or sender started without Redis) fall back to publishing the live
message only (see `maily.campaigns.progress`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from maily.kit.db import AsyncSession

STATE_TASK = "webhooks.campaign_state_changed"


def state_job_kwargs(
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    state: str,
    *,
    previous: str | None,
    reason: str | None,
    changed_at: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """The job key and arguments of a state change announcement."""
    at = changed_at or datetime.now(UTC)
    key = f"campaign-state:{campaign_id}:{state}:{int(at.timestamp() * 1000)}"
    return key, {
        "workspace_id": workspace_id,
        "campaign_id": campaign_id,
        "state": state,
        "previous": previous,
        "reason": reason,
        "changed_at": at,
    }


def announce_state_change(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    state: str,
    *,
    previous: str | None,
    reason: str | None = None,
) -> None:
    key, kwargs = state_job_kwargs(
        workspace_id, campaign_id, state, previous=previous, reason=reason
    )
    session.jobs.enqueue(STATE_TASK, key=key, **kwargs)
