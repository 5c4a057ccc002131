"""The worker's registry imports every domain's tasks.py."""

from __future__ import annotations

import sys
from pathlib import Path

import maily
from maily.kit.queue import registry
from maily.workers import DOMAINS, load_domain_tasks

SRC = Path(maily.__file__).parent


def test_every_domain_with_a_tasks_module_is_listed() -> None:
    with_tasks = {path.parent.name for path in SRC.glob("*/tasks.py")}
    assert with_tasks <= set(DOMAINS), f"add {sorted(with_tasks - set(DOMAINS))} to DOMAINS"


def test_load_domain_tasks_imports_them_into_the_process_registry() -> None:
    assert load_domain_tasks() is registry
    for path in SRC.glob("*/tasks.py"):
        assert f"maily.{path.parent.name}.tasks" in sys.modules
