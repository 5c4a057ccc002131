"""Imports every domain's `tasks.py`, so the worker knows all background jobs."""

from __future__ import annotations

import importlib
import importlib.util

from maily.kit.queue import TaskRegistry, registry

# Each domain that may declare jobs. A domain without a tasks.py is skipped; a new
# domain with one must be listed here (tests/workers/test_registry.py checks).
DOMAINS = (
    "auth",
    "contacts",
    "segments",
    "templates",
    "campaigns",
    "delivery",
    "tracking",
    "analytics",
    "ai",
    "webhooks",
    "realtime",
)


def load_domain_tasks() -> TaskRegistry:
    """Import `maily.<domain>.tasks` for every domain that has one; their `@task`
    and `@cron` decorators fill the process-wide registry, which is returned."""
    for domain in DOMAINS:
        module = f"maily.{domain}.tasks"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    return registry
