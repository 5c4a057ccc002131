"""The writer ↔ critic loop ends: by the budget's agent runs or tokens, and a model
that fails ends the task with an error event saying why."""

from __future__ import annotations

import uuid

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings
from redis.asyncio import Redis

from maily.ai import contracts
from maily.ai.mesh import MAX_ROUNDS, MeshDeps
from tests.ai.conftest import FAKE_OPENAI_KEY
from tests.ai.fakes import Failure, FakeOpenAI, Structured, unused_base_url
from tests.ai.mesh.support import (
    BODY,
    BRAND,
    BRIEF,
    FOOTER_WITHOUT_ADDRESS,
    GOOD_MJML,
    NO_CRITIQUE,
    ON_VOICE,
    WORKSPACE,
    Router,
    StaticResults,
    SummingUsageSink,
    collect,
    deps_for,
    draft,
    kinds,
    mjml,
    model_for,
    plan,
    subjects,
)

NO_ADDRESS = mjml(BODY, FOOTER_WITHOUT_ADDRESS)


def task(max_steps: int = 12, max_tokens: int = 60_000) -> contracts.DraftCampaignTask:
    return contracts.DraftCampaignTask(
        workspace_id=WORKSPACE,
        task_id=uuid.uuid4(),
        brand=BRAND,
        brief=BRIEF,
        subject_variants=1,
        budget=contracts.Budget(max_steps=max_steps, max_tokens=max_tokens),
    )


async def test_agent_run_budget_stops_the_loop_with_the_best_draft(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    router = Router(
        fake_openai,
        coordinator=[plan("copywriter")],
        subject_line_specialist=[subjects("Three autumn teas are here")],
        # the first draft does not even compile; later ones only lack the address, forever
        copywriter=[draft("<mjml><mj-body><mj-text>"), draft(NO_ADDRESS)],
        compliance_critic=[NO_CRITIQUE],
    )
    events = await collect(task(max_steps=5), deps_for(fake_openai, redis))
    assert router.calls == ["coordinator", "subject_line_specialist"] + ["copywriter"] * 3
    assert kinds(events)[-1] == "result"
    assert kinds(events).count("check") == 3
    assert kinds(events).count("revision") == 2
    result = contracts.CampaignDraft.model_validate(events[-1].data)
    assert result.budget_exhausted
    assert not result.checks.passed
    assert result.iterations == 3
    assert result.mjml == NO_ADDRESS  # the best draft: it compiles, the first did not
    assert [f.check for f in result.checks.findings if f.severity == "error"] == ["postal_address"]
    assert result.html  # the best draft's preview
    usage = [e for e in events if e.kind == "usage"]
    assert usage[-1].message.startswith("5 of 5 agent runs")


async def test_token_budget_stops_the_loop(fake_openai: FakeOpenAI, redis: Redis) -> None:
    def costly(answer: Structured) -> Structured:
        return Structured(answer.data, input_tokens=300, output_tokens=10)

    Router(
        fake_openai,
        coordinator=[costly(plan("copywriter"))],
        subject_line_specialist=[costly(subjects("Three autumn teas are here"))],
        copywriter=[costly(draft(NO_ADDRESS))],
    )
    events = await collect(task(max_tokens=1_000), deps_for(fake_openai, redis))
    # 3 runs spend 930 tokens; the 4th run goes past the limit and ends the loop
    assert len(fake_openai.requests) == 4
    result = contracts.CampaignDraft.model_validate(events[-1].data)
    assert result.budget_exhausted
    assert result.iterations == 1
    assert result.usage.input_tokens + result.usage.output_tokens == 4 * 310


async def test_the_loop_is_bounded_by_rounds_too(fake_openai: FakeOpenAI, redis: Redis) -> None:
    Router(
        fake_openai,
        coordinator=[plan("copywriter")],
        subject_line_specialist=[subjects("Three autumn teas are here")],
        copywriter=[draft(NO_ADDRESS)],
    )
    events = await collect(task(max_steps=100, max_tokens=2_000_000), deps_for(fake_openai, redis))
    result = contracts.CampaignDraft.model_validate(events[-1].data)
    assert result.iterations == MAX_ROUNDS
    assert result.budget_exhausted


async def test_budget_too_small_for_a_first_draft_is_an_error(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    Router(
        fake_openai,
        coordinator=[plan("copywriter")],
        subject_line_specialist=[subjects("Three autumn teas are here")],
    )
    events = await collect(task(max_steps=2), deps_for(fake_openai, redis))
    assert kinds(events)[-1] == "error"
    assert "budget ran out" in events[-1].message
    assert events[-1].data == {"reason": "budget"}
    assert "result" not in kinds(events)


async def test_provider_error_ends_in_an_error_event_with_the_reason(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    Router(
        fake_openai,
        coordinator=[plan("copywriter")],
        subject_line_specialist=[subjects("Three autumn teas are here")],
        copywriter=[Failure(401, "Incorrect API key provided")],
    )
    events = await collect(task(), deps_for(fake_openai, redis))
    assert kinds(events)[:2] == ["started", "agent_started"]
    assert kinds(events)[-1] == "error"
    assert "result" not in kinds(events)
    message = events[-1].message
    assert "401" in message
    assert "Incorrect API key provided" in message


async def test_unreachable_provider_ends_in_an_error_event(redis: Redis) -> None:
    client_model = OpenAIChatModel(
        "fake-model",
        provider=OpenAIProvider(base_url=unused_base_url() + "/v1", api_key=FAKE_OPENAI_KEY),
    )
    deps = MeshDeps(
        model=client_model, redis=redis, results=StaticResults(), usage=SummingUsageSink()
    )
    events = await collect(task(), deps)
    assert kinds(events) == ["started", "agent_started", "usage", "error"]
    assert "could not be reached" in events[-1].message
    assert events[-1].data == {"reason": "model_unavailable"}


async def test_no_model_of_a_fallback_answers(redis: Redis) -> None:
    with (
        FakeOpenAI(api_key=FAKE_OPENAI_KEY) as first,
        FakeOpenAI(api_key=FAKE_OPENAI_KEY) as second,
    ):
        first.answer(Failure(503, "first provider is overloaded"))
        second.answer(Failure(500, "second provider broke"))
        deps = MeshDeps(
            model=FallbackModel(model_for(first), model_for(second)),
            redis=redis,
            results=StaticResults(),
            usage=SummingUsageSink(),
        )
        events = await collect(task(), deps)
    assert kinds(events)[-1] == "error"
    assert "first provider is overloaded" in events[-1].message
    assert "second provider broke" in events[-1].message


class NoProviderAnswers(WrapperModel):
    """Over the fake API, the way a provider layer gives up: ModelUnavailable."""

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        raise contracts.ModelUnavailable("every configured provider is switched off")


async def test_model_unavailable_ends_in_an_error_event(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    deps = MeshDeps(
        model=NoProviderAnswers(model_for(fake_openai)),
        redis=redis,
        results=StaticResults(),
        usage=SummingUsageSink(),
    )
    events = await collect(task(), deps)
    assert kinds(events)[-1] == "error"
    assert "every configured provider is switched off" in events[-1].message
    assert events[-1].data == {"reason": "model_unavailable"}
    assert fake_openai.requests == []


@pytest.mark.parametrize("unusable", ["not json at all", '{"steps": "nope"}'])
async def test_unusable_model_output_is_an_error(
    fake_openai: FakeOpenAI, redis: Redis, unusable: str
) -> None:
    from tests.ai.fakes import ToolCall

    fake_openai.respond_with(lambda request: ToolCall(unusable))
    events = await collect(task(), deps_for(fake_openai, redis))
    assert kinds(events)[-1] == "error"
    assert "could not be used" in events[-1].message
    assert events[-1].data == {"reason": "model_output"}


async def test_a_passing_first_draft_needs_no_revision(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    Router(
        fake_openai,
        coordinator=[plan("copywriter", "brand_voice")],
        subject_line_specialist=[subjects("Three autumn teas are here")],
        copywriter=[draft(GOOD_MJML)],
        compliance_critic=[NO_CRITIQUE],
        brand_voice=[ON_VOICE],
    )
    events = await collect(task(), deps_for(fake_openai, redis))
    assert "revision" not in kinds(events)
    result = contracts.CampaignDraft.model_validate(events[-1].data)
    assert result.iterations == 1
    assert result.checks.passed
    assert not result.budget_exhausted


async def test_no_budget_left_for_the_model_review_is_a_warning(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    router = Router(
        fake_openai,
        coordinator=[plan("copywriter")],
        subject_line_specialist=[subjects("Three autumn teas are here")],
        copywriter=[draft(GOOD_MJML)],
        compliance_critic=[NO_CRITIQUE],
    )
    events = await collect(task(max_steps=3), deps_for(fake_openai, redis))
    assert "compliance_critic" not in router.calls
    result = contracts.CampaignDraft.model_validate(events[-1].data)
    assert result.checks.passed
    assert not result.budget_exhausted
    assert [(f.check, f.severity) for f in result.checks.findings] == [("model_review", "warning")]
    check = next(e for e in events if e.kind == "check")
    assert "no model review" in check.message
