"""A real SpamAssassin daemon for tests: Debian's spamd on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port

SPAMD = shutil.which("spamd") or "/usr/sbin/spamd"
START_DEADLINE_SECONDS = 90.0


@dataclass(frozen=True)
class Spamd:
    host: str
    port: int


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@contextlib.contextmanager
def running_spamd(log_dir: Path) -> Iterator[Spamd]:
    """spamd with local tests only (no network lookups), one child, as `nobody` when
    started by root; yields once it accepts connections."""
    port = free_port()
    command = [
        SPAMD,
        "--local",
        "--nouser-config",
        "--listen",
        f"127.0.0.1:{port}",
        "--max-children",
        "1",
        "--syslog",
        "stderr",
    ]
    if os.geteuid() == 0:
        command += ["--username", "nobody"]
    log_path = log_dir / "spamd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while not _accepts(port):
            if process.poll() is not None:
                raise RuntimeError(f"spamd exited: {log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError("spamd did not accept connections in time")
            # Polling the port: spamd says nothing else when it is ready.
            time.sleep(0.1)
        yield Spamd("127.0.0.1", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
