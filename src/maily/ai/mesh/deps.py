"""What the mesh is given to run a task: the model, Redis for task memory, and the seams
for campaign results, usage accounting and SpamAssassin."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic_ai.models import Model
from redis.asyncio import Redis

from maily.ai.contracts import CampaignResults, SpamChecker, UsageSink
from maily.ai.mesh.memory import DEFAULT_TTL_SECONDS

__all__ = ["MeshDeps"]


@dataclass(frozen=True)
class MeshDeps:
    model: Model
    redis: Redis
    results: CampaignResults
    usage: UsageSink
    spam: SpamChecker | None = None
    memory_ttl_seconds: int = DEFAULT_TTL_SECONDS
    past_campaigns: int = 20  # how many of the workspace's campaigns the analyst reads
    requests_per_step: int = 3  # model requests one agent run may make (output retries)
