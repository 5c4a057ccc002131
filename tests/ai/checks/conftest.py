"""Fixtures of the content check tests: a real spamd."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ai.checks.spamd import Spamd, running_spamd


@pytest.fixture(scope="session")
def spamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spamd]:
    with running_spamd(tmp_path_factory.mktemp("spamd")) as server:
        yield server
