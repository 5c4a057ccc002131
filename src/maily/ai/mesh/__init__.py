"""The agent mesh: a coordinator plans a task, specialist agents (copywriter, subject
lines, personalisation, brand voice, compliance critic, deliverability and performance
analysts) do their parts over shared Redis task memory, and the writer revises until
the checks pass or the budget is spent. docs/ai-mesh.md describes it.

    run_task(task, deps) -> AsyncIterator[ProgressEvent]
    MeshDeps(model, redis, results, usage, spam=None)
    RollupCampaignResults(sessions)   the CampaignResults over the analytics rollups"""

from maily.ai.mesh.coordinator import run_task
from maily.ai.mesh.deps import MeshDeps
from maily.ai.mesh.memory import TaskMemory
from maily.ai.mesh.results import RollupCampaignResults
from maily.ai.mesh.steps import MAX_ROUNDS, BudgetSpent

__all__ = [
    "MAX_ROUNDS",
    "BudgetSpent",
    "MeshDeps",
    "RollupCampaignResults",
    "TaskMemory",
    "run_task",
]
