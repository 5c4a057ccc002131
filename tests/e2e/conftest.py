"""Browser tests: a real `maily up` (the test database and Redis, outbox transport)
serving the built web app, driven by Debian's Chromium through Playwright.

The web app must be built first (`make web`; `make test` does it). Screenshots go to
artifacts/e2e/<step>.png."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from redis import Redis

from tests.conftest import (
    TEST_ENCRYPTION_KEY,
    TEST_SECRET_KEY,
    Stores,
    _worker_index,
    create_database,
)
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
WEB_OUT = ROOT / "web" / "out"
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Maily:
    url: str
    database_url: str
    log: Path

    def api(self, path: str) -> str:
        return f"{self.url}/api/v1{path}"


@dataclass(frozen=True)
class User:
    email: str
    password: str
    access_token: str
    workspace_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-4000:]
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling a port with a deadline, not waiting for an event
    pytest.fail(f"maily up was not ready within 90 s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="package")
def maily(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Maily]:
    """`maily up` on a free port, against its own database and the slot's Redis index,
    for the browser tests together (no other test runs while it does: the suite runs
    package by package in one process)."""
    assert (WEB_OUT / "index.html").is_file(), "the web app is not built: run `make web`"
    database_url = create_database(stores, f"maily_e2e_{_worker_index()}")
    redis_url = f"{stores.redis_url.rsplit('/', 1)[0]}/{1 + _worker_index()}"
    Redis.from_url(redis_url).flushdb()
    work = tmp_path_factory.mktemp("e2e")
    log = work / "maily.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILY_")}
    env.update(
        {
            "MAILY_ENVIRONMENT": "test",
            "MAILY_DATABASE_URL": database_url,
            "MAILY_REDIS_URL": redis_url,
            "MAILY_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
            "MAILY_SECURITY__ENCRYPTION_KEYS": json.dumps([TEST_ENCRYPTION_KEY]),
            "MAILY_TRANSPORT": "outbox",
            "MAILY_API__WEB_DIR": str(WEB_OUT),
            "MAILY_STORAGE__LOCAL_PATH": str(work / "objects"),
            "MAILY_ROLES__HEALTH_BASE_PORT": "0",
            "MAILY_INBOUND__PORT": str(free_port()),
            "MAILY_AI__PORT": str(free_port()),
            # The AI provider tests point a workspace at a fake model API on loopback.
            "MAILY_AI_PROVIDERS__ALLOW_LOOPBACK": "true",
            "MAILY_RATE_LIMIT__ENABLED": "false",
            "MAILY_SCHEDULER__INTERVAL_SECONDS": "1",
            "MAILY_OBSERVABILITY__LOG_JSON": "false",
        }
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "maily",
            "up",
            "--data-dir",
            str(work / "data"),
            "--port",
            str(port),
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=work,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log)
        yield Maily(url=url, database_url=database_url, log=log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, maily: Maily) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=maily.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def screenshot(page: Page, step: str) -> Path:
    """Save a full-page screenshot as artifacts/e2e/<step>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{step}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_up_by_api(maily: Maily, workspace_name: str = "Acme") -> User:
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    tokens = httpx.post(
        maily.api("/auth/signup"),
        json={
            "email": email,
            "password": PASSWORD,
            "name": "Test",
            "workspace_name": workspace_name,
        },
    )
    assert tokens.status_code == 201, tokens.text
    access = tokens.json()["access_token"]
    me = httpx.get(maily.api("/me"), headers={"Authorization": f"Bearer {access}"}).json()
    return User(email, PASSWORD, access, me["workspaces"][0]["id"])
