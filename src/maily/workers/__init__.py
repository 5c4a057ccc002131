"""The `maily worker` role and the registry of every domain's background jobs."""

from maily.workers.registry import domains_with_tasks, load_domain_tasks
from maily.workers.run import run_worker

__all__ = ["domains_with_tasks", "load_domain_tasks", "run_worker"]
