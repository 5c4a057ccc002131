"""A real S3-compatible HTTP server for tests: moto's server in a child process on a free port."""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
from mypy_boto3_s3 import S3Client

from tests.ports import free_port

REGION = "us-east-1"
ACCESS_KEY_ID = "maily-test"
SECRET_ACCESS_KEY = "maily-test-secret"  # the test server accepts any key


@dataclass
class S3Server:
    endpoint_url: str

    @functools.cached_property
    def client(self) -> S3Client:
        """A plain boto3 client, for checking what the server really holds."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )


@contextmanager
def running_s3_server(log_dir: Path, *, timeout: float = 30.0) -> Iterator[S3Server]:
    """Start `moto.server` in its own process (so the adapter's requests cross a real
    socket, and the server's CPU work doesn't share the tests' GIL); stop it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = log_dir / "moto-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited early:\n{log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/moto-api/", timeout=1.0).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto server did not answer within {timeout} s")
            time.sleep(0.1)
        yield S3Server(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
