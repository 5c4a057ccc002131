"""Background jobs of the contacts domain, imported by the worker (see workers/registry.py)."""

from maily.contacts.exports import tasks as exports_tasks
from maily.contacts.imports import tasks as imports_tasks

__all__ = ["exports_tasks", "imports_tasks"]
