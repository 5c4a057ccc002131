"""Acceptance: with `maily ai` stopped the rest of the product works and the AI routes
answer 503 with a message; started again, the AI routes work without restarting the API.

`maily ai` runs as a real process (the command operators run) on the test database and
Redis; the API runs in this process with real commits, since the service reads what
the API wrote (the workspace, its model providers) from its own connections. The model
provider is the fake OpenAI-compatible server of tests/ai/fakes.py, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.ai.client import NOT_ANSWERING
from maily.api.app import create_app, state_from
from maily.config import Settings
from maily.kit.queue import JobQueue
from tests.ai.conftest import quick_ai_settings
from tests.ai.fakes import FakeOpenAI
from tests.ai.mesh.support import Router, plan, subjects
from tests.ai.service import DEADLINE, AIProcess, add_provider, free_port
from tests.conftest import Account, sign_up

pytestmark = pytest.mark.slow


@pytest.fixture
def ai_port() -> int:
    return free_port()


@pytest.fixture
def ai_processes(settings: Settings, ai_port: int) -> Iterator[list[AIProcess]]:
    started: list[AIProcess] = []
    yield started
    for process in started:
        process.kill()


@pytest.fixture
async def committed_api(
    settings: Settings,
    engine: AsyncEngine,
    redis: Redis,
    job_queue_for_requests: JobQueue,
    ai_port: int,
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with real transactions (the AI service must see what it commits)."""
    ai = quick_ai_settings(ai_port, breaker_failure_threshold=2, breaker_reset_seconds=0.2)
    providers = settings.ai_providers.model_copy(update={"allow_loopback": True})
    app_settings = settings.model_copy(update={"ai": ai, "ai_providers": providers})
    state = state_from(app_settings, engine, redis)
    app = create_app(app_settings, state=state)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    client_of_ai = getattr(app.state, "ai_client", None)
    if client_of_ai is not None:
        await client_of_ai.close()
    await state.storage.aclose()


def assert_subject_lines(answer: httpx.Response) -> None:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    texts = [line["text"] for line in body["result"]["items"]]
    assert texts[0] == "Three autumn teas are here"  # the model's best, ranked first
    assert set(texts) == {"Three autumn teas are here", "Autumn blends, freshly packed"}
    assert body["events"][0]["kind"] == "started"


async def ai_call(client: httpx.AsyncClient, owner: Account) -> httpx.Response:
    return await client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/ai/subject-lines",
        headers=owner.headers,
        json={"brief": "Spring sale on garden tools", "count": 3},
    )


async def the_rest_works(client: httpx.AsyncClient, owner: Account) -> None:
    base = f"/api/v1/workspaces/{owner.workspace_id}"
    contact = await client.post(
        f"{base}/contacts",
        headers=owner.headers,
        json={"email": f"c-{time.monotonic_ns()}@example.com", "first_name": "Ada"},
    )
    assert contact.status_code == 201, contact.text
    template = await client.post(
        f"{base}/templates",
        headers=owner.headers,
        json={"name": "Plain", "kind": "html", "source": "<p>Hello</p>", "subject": "Hi"},
    )
    assert template.status_code == 201, template.text
    campaigns = await client.get(f"{base}/campaigns", headers=owner.headers)
    assert campaigns.status_code == 200, campaigns.text


async def test_the_product_works_without_the_ai_service_and_ai_returns_without_an_api_restart(
    committed_api: httpx.AsyncClient,
    settings: Settings,
    ai_port: int,
    ai_processes: list[AIProcess],
    fake_openai: FakeOpenAI,
) -> None:
    owner = await sign_up(committed_api)

    # Up, and no model provider configured: the service itself answers that no model
    # is available, which the API passes on as 503 with the reason.
    ai_processes.append(AIProcess(settings, ai_port))
    await ai_processes[-1].wait_serving()
    answered = await ai_call(committed_api, owner)
    assert answered.status_code == 503, answered.text
    assert answered.json()["error"]["code"] == "ai_model_unavailable"
    assert "No AI provider is configured" in answered.json()["error"]["message"]

    # With a provider (the fake OpenAI API over real HTTP) the whole path answers:
    # API → gRPC → maily ai → agent mesh → model API, and back.
    await add_provider(committed_api, owner, fake_openai)
    Router(
        fake_openai,
        coordinator=[plan("subject_line_specialist")],
        subject_line_specialist=[
            subjects("Three autumn teas are here", "Autumn blends, freshly packed")
        ],
    )
    assert_subject_lines(await ai_call(committed_api, owner))

    # Down.
    assert ai_processes[-1].terminate() == 0
    await the_rest_works(committed_api, owner)
    for _ in range(3):  # past the breaker's threshold: the answer stays the same
        down = await ai_call(committed_api, owner)
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "ai_unavailable"
        assert down.json()["error"]["message"] == NOT_ANSWERING
    streamed = await committed_api.post(
        f"/api/v1/workspaces/{owner.workspace_id}/ai/drafts",
        headers={**owner.headers, "Accept": "text/event-stream"},
        json={"brief": "Spring"},
    )
    assert streamed.status_code == 503
    assert streamed.json()["error"]["message"] == NOT_ANSWERING
    await the_rest_works(committed_api, owner)

    # Up again on the same address; the same API process uses it once it answers.
    ai_processes.append(AIProcess(settings, ai_port))
    await ai_processes[-1].wait_serving()
    deadline = time.monotonic() + DEADLINE
    while True:
        back = await ai_call(committed_api, owner)
        if back.status_code != 503 or time.monotonic() > deadline:
            break
        assert back.json()["error"]["code"] == "ai_unavailable", back.text
    assert_subject_lines(back)
    assert ai_processes[-1].terminate() == 0
