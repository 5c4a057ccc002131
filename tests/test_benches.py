"""The benches that need no stores still run against the code as it is: each, at a
tiny size, prints exactly one JSON line with its figures. What the figures are is the
benches' business (bench/README.md), not a test's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize(
    ("script", "arguments", "figures"),
    [
        (
            "compose_cpu.py",
            ["--messages", "20", "--links", "5"],
            {"compose_cpu_us_per_msg", "click_tokens_us", "private_key_op_us"},
        ),
        (
            "compose_cpu.py",
            ["--messages", "20", "--algorithm", "ed25519-sha256"],
            {"compose_cpu_us_per_msg", "private_key_op_us"},
        ),
        ("send_time.py", ["--contacts", "300", "--days", "14"], {"hit_rate", "lift"}),
    ],
)
def test_a_bench_prints_one_line_of_figures(
    script: str, arguments: list[str], figures: set[str]
) -> None:
    ran = subprocess.run(
        [sys.executable, str(BENCH / script), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    (line,) = ran.stdout.splitlines()
    printed = json.loads(line)
    assert figures <= set(printed), printed
    assert all(isinstance(printed[name], int | float) for name in figures), printed
