"""The worker's registry imports every domain's tasks.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import maily
from maily.kit.queue import registry
from maily.workers.registry import domains_with_tasks, load_domain_tasks

SRC = Path(maily.__file__).parent


def test_every_domain_with_a_tasks_module_is_found() -> None:
    with_tasks = {path.parent.name for path in SRC.glob("*/tasks.py")}
    assert set(domains_with_tasks()) == with_tasks


def test_a_domains_tasks_are_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    domain = tmp_path / "registry_probe"
    domain.mkdir()
    (domain / "__init__.py").write_text("")
    (domain / "tasks.py").write_text(
        "from maily.kit.queue import JobContext, task\n\n"
        "@task('registry_probe.ping')\n"
        "async def ping(ctx: JobContext) -> None:\n"
        "    return None\n"
    )
    monkeypatch.setattr(maily, "__path__", [*maily.__path__, str(tmp_path)])
    try:
        assert "registry_probe" in domains_with_tasks()
        assert load_domain_tasks() is registry
        assert "maily.registry_probe.tasks" in sys.modules
        assert "registry_probe.ping" in registry.tasks
    finally:
        registry.tasks.pop("registry_probe.ping", None)
        sys.modules.pop("maily.registry_probe.tasks", None)
        sys.modules.pop("maily.registry_probe", None)
