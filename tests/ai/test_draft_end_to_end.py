"""Acceptance: "draft a campaign from this brief" through the whole path, against the fake
model API: an API server over real HTTP → gRPC → a real `maily ai` process → the agent
mesh (coordinator → specialists → writer ↔ critic loop, SpamAssassin through a real
spamd) → a validated template; progress streams to the caller as server-sent events while
agents still work, and reaches the workspace's WebSocket too. The draft is only a
suggestion until a person accepts it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from maily.api.app import create_app
from maily.config import Settings
from tests.ai.checks.spamd import Spamd
from tests.ai.conftest import quick_ai_settings
from tests.ai.fakes import FakeOpenAI
from tests.ai.mesh.support import (
    BODY,
    BRAND,
    FOOTER,
    FOOTER_WITHOUT_ADDRESS,
    NO_CRITIQUE,
    ON_VOICE,
    WORKSPACE_BRAND,
    Router,
    draft,
    mjml,
    plan,
    subjects,
)
from tests.ai.service import DEADLINE, AIProcess, add_provider, free_port, parse_sse
from tests.asgi_server import serving
from tests.conftest import Account, sign_up

pytestmark = pytest.mark.slow

BRIEF = "Announce our three autumn blends; link to https://shop.acmetea.example/autumn"
GOOD = mjml(BODY, FOOTER)


@dataclass(frozen=True)
class Api:
    url: str

    def live(self, account: Account) -> str:
        return (
            self.url.replace("http://", "ws://") + f"/api/v1/workspaces/{account.workspace_id}/live"
        )


@pytest.fixture
def ai_port() -> int:
    return free_port()


@pytest.fixture
def api(settings: Settings, ai_port: int) -> Iterator[Api]:
    """`maily api`'s app under uvicorn on loopback, with its own connections: what it
    commits is what `maily ai` reads."""
    ai = quick_ai_settings(ai_port, deadline_seconds=DEADLINE)
    providers = settings.ai_providers.model_copy(update={"allow_loopback": True})
    limits = settings.rate_limit.model_copy(update={"enabled": False})
    app_settings = settings.model_copy(
        update={"ai": ai, "ai_providers": providers, "rate_limit": limits}
    )
    with serving(create_app(app_settings), stop_timeout=DEADLINE) as url:
        yield Api(url)


@pytest.fixture
async def ai_service(settings: Settings, ai_port: int, spamd: Spamd) -> AsyncIterator[AIProcess]:
    process = AIProcess(
        settings, ai_port, MAILY_SPAMD__HOST=spamd.host, MAILY_SPAMD__PORT=str(spamd.port)
    )
    try:
        await process.wait_serving()
        yield process
    finally:
        process.kill()


async def socket_messages(ws: ClientConnection, into: list[dict[str, Any]]) -> None:
    """Every `ai.progress` message the workspace's socket gets, until the task's last."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))
        if message.get("type") != "ai.progress":
            continue
        into.append(message)
        if message["kind"] in ("result", "error"):
            return


async def test_a_brief_becomes_a_validated_draft_through_the_ai_service(
    api: Api, ai_service: AIProcess, fake_openai: FakeOpenAI
) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=DEADLINE) as client:
        owner = await sign_up(client)
        workspace = f"/api/v1/workspaces/{owner.workspace_id}"
        patched = await client.patch(
            workspace,
            headers=owner.headers,
            json={"postal_address": BRAND.postal_address, "brand": WORKSPACE_BRAND},
        )
        assert patched.status_code == 200, patched.text
        await add_provider(client, owner, fake_openai)

        router = Router(
            fake_openai,
            coordinator=[
                plan(
                    "subject_line_specialist",
                    "copywriter",
                    "brand_voice",
                    "compliance_critic",
                    "deliverability_analyst",
                )
            ],
            subject_line_specialist=[
                subjects("Three autumn teas are here", "Smoky, bright, citrusy")
            ],
            # The first draft forgets the postal address; the critic sends it back.
            copywriter=[draft(mjml(BODY, FOOTER_WITHOUT_ADDRESS)), draft(GOOD)],
            compliance_critic=[NO_CRITIQUE],
            brand_voice=[ON_VOICE],
        )
        # The copywriter's first answer waits until the caller has read the plan: the
        # events reach the browser while the agents are still at work.
        plan_seen = threading.Event()
        router.hold("copywriter", until=plan_seen, timeout=DEADLINE)

        pushed: list[dict[str, Any]] = []
        async with connect(
            api.live(owner),
            subprotocols=["maily.live.v1", f"maily.token.{owner.access_token}"],  # type: ignore[list-item]
            open_timeout=DEADLINE,
        ) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))["type"] == "ready"
            listening = asyncio.create_task(socket_messages(ws, pushed))
            blocks: list[str] = []
            async with client.stream(
                "POST",
                f"{workspace}/ai/drafts",
                headers={**owner.headers, "Accept": "text/event-stream"},
                json={"brief": BRIEF, "subject_variants": 2},
            ) as answer:
                assert answer.status_code == 200
                assert answer.headers["content-type"].startswith("text/event-stream")
                block: list[str] = []
                async for line in answer.aiter_lines():
                    if line:
                        block.append(line)
                        continue
                    blocks.append("\n".join(block))
                    block = []
                    if '"kind": "plan"' in blocks[-1]:
                        assert "copywriter" not in router.calls  # still working
                        plan_seen.set()
            await listening

    events = parse_sse("\n\n".join(blocks))
    progress = [data for name, data in events if name == "progress"]
    assert [e["seq"] for e in progress] == list(range(1, len(progress) + 1))
    # After each model call, what the task has spent so far.
    usage = [e["data"] for e in progress if e["kind"] == "usage"]
    assert [u["requests"] for u in usage] == [1, 2, 3, 4, 5, 6]
    assert usage[-1]["models"] == ["openai:fake-model"]
    steps = [e for e in progress if e["kind"] != "usage"]
    assert [(e["kind"], e["agent"]) for e in steps] == [
        ("started", ""),
        ("agent_started", "coordinator"),
        ("plan", "coordinator"),
        ("agent_started", "subject_line_specialist"),
        ("agent_output", "subject_line_specialist"),
        ("agent_started", "copywriter"),
        ("agent_output", "copywriter"),
        ("agent_started", "deliverability_analyst"),
        ("agent_output", "deliverability_analyst"),
        ("check", "compliance_critic"),
        ("revision", "copywriter"),
        ("agent_started", "copywriter"),
        ("agent_output", "copywriter"),
        ("agent_started", "deliverability_analyst"),
        ("agent_output", "deliverability_analyst"),
        ("agent_started", "compliance_critic"),
        ("agent_output", "compliance_critic"),
        ("agent_started", "brand_voice"),
        ("agent_output", "brand_voice"),
        ("check", "compliance_critic"),
    ]
    first_check, last_check = (e for e in steps if e["kind"] == "check")
    assert {f["check"] for f in first_check["data"]["findings"]} == {"postal_address"}
    assert last_check["data"]["passed"] is True
    # SpamAssassin (the real spamd) scored each draft, and passed the last one.
    scored = [
        e["data"]["spam"]
        for e in steps
        if e["kind"] == "agent_output" and e["agent"] == "deliverability_analyst"
    ]
    assert len(scored) == 2
    assert all(s is not None and s["threshold"] > 0 for s in scored), scored
    assert scored[-1]["is_spam"] is False
    assert router.calls == [
        "coordinator",
        "subject_line_specialist",
        "copywriter",
        "copywriter",
        "compliance_critic",
        "brand_voice",
    ]

    # The result: a validated template in the workspace's brand, kept as a suggestion.
    name, outcome = events[-1]
    assert name == "result", outcome
    result = outcome["result"]
    assert result["checks"]["passed"] is True
    assert result["checks"]["spam"]["score"] == scored[-1]["score"]
    assert result["iterations"] == 2
    assert result["mjml"] == GOOD
    assert [s["text"] for s in result["subject_lines"]] == [
        "Three autumn teas are here",
        "Smoky, bright, citrusy",
    ]
    assert (
        BRAND.postal_address in result["html"]
    )  # rendered in the sandbox with the workspace's address
    assert "https://shop.acmetea.example/autumn" in result["html"]
    assert "<script" not in result["html"]

    # The same progress reached the workspace's socket, in order; the result itself is
    # read from the suggestion, not pushed.
    assert [(m["seq"], m["kind"], m["agent"]) for m in pushed[:-1]] == [
        (e["seq"], e["kind"], e["agent"]) for e in progress
    ]
    assert pushed[-1]["kind"] == "result"
    assert pushed[-1]["data"] is None
    assert {m["task_id"] for m in pushed} == {outcome["task_id"]}

    async with httpx.AsyncClient(base_url=api.url, timeout=DEADLINE) as client:
        # Nothing generated is a template, nor sent, until a person accepts it.
        templates = await client.get(f"{workspace}/templates", headers=owner.headers)
        assert templates.json()["items"] == []
        suggestion = f"{workspace}/ai/suggestions/{outcome['suggestion_id']}"
        stored = await client.get(suggestion, headers=owner.headers)
        assert stored.json()["status"] == "ready"
        accepted = await client.post(
            f"{suggestion}/accept", headers=owner.headers, json={"subject_index": 1}
        )
        assert accepted.status_code == 201, accepted.text
        template = await client.get(
            f"{workspace}/templates/{accepted.json()['template_id']}", headers=owner.headers
        )
        assert template.status_code == 200, template.text
        assert template.json()["subject"] == "Smoky, bright, citrusy"
