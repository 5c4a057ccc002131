"""Imports every domain's `tasks.py`, so the worker knows all background jobs."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

import maily
from maily.kit.queue import TaskRegistry, registry


def domains_with_tasks() -> list[str]:
    """Every package directly under `maily` that has a `tasks` module."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(maily.__path__)
        if info.ispkg and importlib.util.find_spec(f"maily.{info.name}.tasks") is not None
    )


def load_domain_tasks() -> TaskRegistry:
    """Import `maily.<domain>.tasks` for every domain that has one; their `@task`
    and `@cron` decorators fill the process-wide registry, which is returned."""
    for domain in domains_with_tasks():
        importlib.import_module(f"maily.{domain}.tasks")
    return registry
