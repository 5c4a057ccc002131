"""A bounded Schemathesis run over the whole OpenAPI document: no input, valid or not,
may make the API answer with a server error (5xx).

The API runs in a real uvicorn server on its own database; each operation gets a fresh
signed-in account, so an operation that ends sessions or deletes the workspace does not
blind the ones after it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maily.api.app import create_app
from maily.kit.db.migrate import upgrade
from tests.conftest import Stores, _worker_index, create_database, make_settings

EXAMPLES_PER_OPERATION = 30


@dataclass(frozen=True)
class LiveAPI:
    base_url: str


@pytest.fixture(scope="module")
def live_api(stores: Stores, redis_url: str) -> Iterator[LiveAPI]:
    # Its own database; the slot's own Redis index (each slot has one, 1 + slot, and
    # the tests of a process run one module at a time).
    index = _worker_index()
    database_url = create_database(stores, f"maily_test_{index}_schemathesis")
    upgrade(database_url)
    app_settings = make_settings(database_url, redis_url, rate_limit={"enabled": False})
    config = uvicorn.Config(
        create_app(app_settings), host="127.0.0.1", port=0, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the API stopped while starting"
        assert time.monotonic() < deadline, "the API did not start within 30 s"
        time.sleep(0.02)  # polling uvicorn's started flag, bounded by the deadline
    port = server.servers[0].sockets[0].getsockname()[1]
    yield LiveAPI(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=15)


def fresh_account(api: LiveAPI) -> tuple[dict[str, str], str]:
    email = f"st-{uuid.uuid4().hex[:10]}@example.com"
    with httpx.Client(base_url=api.base_url) as client:
        tokens = client.post(
            "/api/v1/auth/signup", json={"email": email, "password": "schemathesis password"}
        ).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        workspace_id = client.get("/api/v1/me", headers=headers).json()["workspaces"][0]["id"]
    return headers, workspace_id


def exercise(
    api: LiveAPI, operation: Any, headers: dict[str, str], workspace_id: str, failures: list[str]
) -> None:
    """Run `EXAMPLES_PER_OPERATION` generated cases of one operation; record 5xx answers."""

    @given(case=operation.as_strategy(), own_workspace=st.booleans())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case, own_workspace: bool) -> None:
        if own_workspace and case.path_parameters and "workspace_id" in case.path_parameters:
            case.path_parameters["workspace_id"] = workspace_id
        response = case.call(base_url=api.base_url, headers=headers, timeout=30)
        # The AI routes answer a documented 503 while `maily ai` is not running (it
        # is not, here): that is their contract, not a server error.
        ai_down = response.status_code == 503 and '"code":"ai_' in response.text
        if response.status_code >= 500 and not ai_down:
            failures.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}\n  reproduce: {case.as_curl_command()}"
            )

    run()


def test_no_input_makes_a_server_error(live_api: LiveAPI) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api.base_url}/api/v1/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        headers, workspace_id = fresh_account(live_api)
        exercise(live_api, result.ok(), headers, workspace_id, failures)
    assert operations >= 17
    assert not failures, "server errors:\n" + "\n".join(failures)
