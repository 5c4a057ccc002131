"""What the mesh tests share: a pydantic-ai model pointed at the fake OpenAI server,
per-agent answer queues routed by each agent's instructions, a usage sink that sums the
messages' tokens, fixed campaign results, and a way to collect a task's events."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any

from openai import AsyncOpenAI
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from redis.asyncio import Redis

from maily.ai import contracts
from maily.ai.mesh import MeshDeps, run_task
from maily.ai.mesh.agents import instructions
from tests.ai.conftest import FAKE_OPENAI_KEY
from tests.ai.fakes import Answer, Failure, FakeOpenAI, RecordedRequest, Structured

WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000a1a1")
BRAND = contracts.Brand(
    name="Acme Tea",
    voice="Warm, plain-spoken, a little playful; never pushy.",
    primary_color="#2f6b3a",
    font_family="Georgia, serif",
    logo_url="https://cdn.acmetea.example/logo.png",
    postal_address="12 Leaf Street, Teatown, TT1 2AB",
    website_url="https://www.acmetea.example",
)
# The same brand as a workspace keeps it (`PATCH /workspaces/{id}`: `brand` and
# `postal_address` apart).
WORKSPACE_BRAND = BRAND.model_dump(exclude={"postal_address"})
BRIEF = (
    "Announce our three autumn blends (smoky lapsang, first-flush darjeeling, rooibos with "
    "orange peel) to tea lovers; link to https://shop.acmetea.example/autumn"
)
AGENT_NAMES = (
    "coordinator",
    "performance_analyst",
    "subject_line_specialist",
    "copywriter",
    "personalisation",
    "brand_voice",
    "compliance_critic",
)

BODY = (
    "<mj-section><mj-column>"
    '<mj-image src="https://cdn.acmetea.example/logo.png" alt="Acme Tea" width="120px" />'
    '<mj-text font-family="Georgia, serif" color="#2f6b3a">Hello {{ contact.first_name | '
    'default("there") }}, our autumn blends are in: a smoky lapsang, a bright first-flush '
    "darjeeling and a rooibos with orange peel. Each tin is packed the week it ships, so it "
    "reaches you fresh.</mj-text>"
    '<mj-button background-color="#2f6b3a" href="https://shop.acmetea.example/autumn">'
    "See the autumn blends</mj-button>"
    "</mj-column></mj-section>"
)
FOOTER = (
    '<mj-section><mj-column><mj-text font-size="11px">Acme Tea, {{ workspace.postal_address }}'
    ' · <a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column></mj-section>'
)
FOOTER_WITHOUT_ADDRESS = (
    '<mj-section><mj-column><mj-text font-size="11px">Acme Tea · '
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column></mj-section>'
)


def mjml(*sections: str) -> str:
    return "<mjml><mj-body>" + "".join(sections) + "</mj-body></mjml>"


GOOD_MJML = mjml(BODY, FOOTER)


def plan(*agents: str) -> Structured:
    return Structured({"steps": [{"agent": a, "purpose": f"do the {a} part"} for a in agents]})


def draft(body: str, subject: str = "", notes: str = "") -> Structured:
    return Structured({"subject": subject, "preheader": "", "mjml": body, "notes": notes})


def subjects(*texts: str) -> Structured:
    return Structured(
        {
            "items": [
                {"text": t, "preheader": f"About {t.lower()}", "score": 0.9 - i / 10}
                for i, t in enumerate(texts)
            ]
        }
    )


INSIGHTS = Structured(
    {"summary": "Specific subjects with a product name open best.", "what_works": ["names"]}
)
NO_CRITIQUE = Structured({"findings": []})
ON_VOICE = Structured({"on_voice": True, "issues": []})


class Router:
    """Answers each request from the queue of the agent whose instructions it carries,
    and remembers which agent each request was for."""

    def __init__(self, fake: FakeOpenAI, **answers: Sequence[Answer]) -> None:
        self.queues: dict[str, deque[Answer]] = {n: deque(a) for n, a in answers.items()}
        self.calls: list[str] = []
        self.fake = fake
        fake.respond_with(self)

    def hold(self, agent: str, until: threading.Event, timeout: float = 60.0) -> None:
        """Answer `agent` only once `until` is set (a test has seen what came before);
        past `timeout`, answer it with an error instead."""

        async def held(request: RecordedRequest) -> Answer:
            if self.agent_of(request) == agent and not await asyncio.to_thread(until.wait, timeout):
                return Failure(500, f"{agent} was held and never released")
            return self(request)

        self.fake.respond_with(held)

    def agent_of(self, request: RecordedRequest) -> str:
        for name in AGENT_NAMES:
            if instructions(name).splitlines()[0] in request.system:
                return name
        return "unknown"

    def __call__(self, request: RecordedRequest) -> Answer:
        name = self.agent_of(request)
        self.calls.append(name)
        queue = self.queues.get(name)
        if not queue:
            return Failure(500, f"no answer scripted for {name}")
        return queue.popleft() if len(queue) > 1 else queue[0]


class SummingUsageSink:
    """A UsageSink that adds up the tokens of every response it is given."""

    def __init__(self) -> None:
        self.runs: list[tuple[uuid.UUID, str, int]] = []

    async def record(
        self,
        workspace_id: uuid.UUID,
        task_kind: contracts.TaskKind,
        messages: Sequence[ModelMessage],
    ) -> contracts.Usage:
        responses = [m for m in messages if isinstance(m, ModelResponse)]
        usage = contracts.Usage(
            requests=len(responses),
            input_tokens=sum(r.usage.input_tokens for r in responses),
            output_tokens=sum(r.usage.output_tokens for r in responses),
            models=sorted({f"openai:{r.model_name}" for r in responses}),
        )
        self.runs.append((workspace_id, task_kind, usage.input_tokens + usage.output_tokens))
        return usage


class StaticResults:
    def __init__(self, results: Sequence[contracts.CampaignResult] = ()) -> None:
        self.results = list(results)
        self.asked: list[uuid.UUID] = []

    async def recent(
        self, workspace_id: uuid.UUID, limit: int = 20
    ) -> list[contracts.CampaignResult]:
        self.asked.append(workspace_id)
        return self.results[:limit]


PAST = [
    contracts.CampaignResult(
        campaign_id=uuid.uuid4(),
        name="Summer teas",
        subject="Iced teas for hot days",
        sent_at="2026-07-01T09:00:00+00:00",
        delivered=1000,
        unique_opens=420,
        unique_clicks=80,
        unsubscribes=3,
        complaints=0,
        bounces=5,
    )
]


def model_for(fake: FakeOpenAI) -> OpenAIChatModel:
    client = AsyncOpenAI(base_url=fake.base_url, api_key=FAKE_OPENAI_KEY, max_retries=0)
    return OpenAIChatModel("fake-model", provider=OpenAIProvider(openai_client=client))


def deps_for(
    fake: FakeOpenAI, redis: Redis, results: StaticResults | None = None, **kw: Any
) -> MeshDeps:
    return MeshDeps(
        model=model_for(fake),
        redis=redis,
        results=results if results is not None else StaticResults(PAST),
        usage=kw.pop("usage", SummingUsageSink()),
        **kw,
    )


async def collect(task: contracts.Task, deps: MeshDeps) -> list[contracts.ProgressEvent]:
    return [event async for event in run_task(task, deps)]


def kinds(events: Sequence[contracts.ProgressEvent]) -> list[str]:
    return [e.kind for e in events]


def steps(events: Sequence[contracts.ProgressEvent]) -> list[tuple[str, str]]:
    """(kind, agent) of every event except usage, for asserting the order."""
    return [(e.kind, e.agent) for e in events if e.kind != "usage"]
