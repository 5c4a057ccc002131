"""A workspace's model against fake provider APIs: both protocols, streaming,
structured output, the fallback chain and failures explained in words."""

from __future__ import annotations

import uuid

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent

from maily.ai.contracts import ModelUnavailable
from maily.ai.providers import WorkspaceModel, workspace_model
from maily.ai.providers.chain import NONE_CONFIGURED, NONE_ENABLED
from maily.config import Settings
from maily.kit.db import AsyncSession
from tests.ai.fakes import (
    Failure,
    FakeAnthropic,
    FakeOpenAI,
    Slow,
    Structured,
    Text,
    unused_base_url,
)
from tests.ai.providers.conftest import with_ai_providers
from tests.ai.providers.support import add_provider, new_workspace


class Subject(BaseModel):
    text: str
    score: float


async def model_for(
    session: AsyncSession, settings: Settings, workspace_id: uuid.UUID
) -> WorkspaceModel:
    return await workspace_model(session, workspace_id, settings)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_text_stream_and_structured_output_through_each_protocol(
    kind: str,
    session: AsyncSession,
    ai_settings: Settings,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> None:
    fake = fake_openai if kind == "openai" else fake_anthropic
    workspace_id = await new_workspace(session)
    await add_provider(session, workspace_id, fake)
    fake.answer(
        Text("Spring is here"),
        Text("a streamed answer in several chunks"),
        Structured(Subject(text="Fresh picks", score=0.8)),
    )
    model = await model_for(session, ai_settings, workspace_id)

    result = await Agent(model, instructions="You are the writer.").run("Write a line")
    assert result.output == "Spring is here"

    async with Agent(model).run_stream("Stream a line") as stream:
        pieces = [piece async for piece in stream.stream_text(delta=True)]
    assert "".join(pieces) == "a streamed answer in several chunks"

    async with Agent(model, output_type=Subject).run_stream("One subject") as stream:
        assert await stream.get_output() == Subject(text="Fresh picks", score=0.8)

    first, second, third = fake.requests
    assert first.system == "You are the writer."
    assert first.model == ("fake-gpt" if kind == "openai" else "fake-claude")
    assert not first.stream
    assert second.stream
    assert third.stream
    assert third.output_tool == "final_result"


async def test_the_first_provider_failing_hands_over_to_the_next(
    session: AsyncSession, ai_settings: Settings, fake_anthropic: FakeAnthropic
) -> None:
    workspace_id = await new_workspace(session)
    with FakeOpenAI(api_key="sk-fake-openai-key") as broken:
        await add_provider(session, workspace_id, broken, name="primary", priority=1)
        await add_provider(session, workspace_id, fake_anthropic, name="backup", priority=2)
        broken.answer(Failure.server_error("overloaded"))
        fake_anthropic.answer(Text("from the backup"), Text("streamed from the backup"))
        model = await model_for(session, ai_settings, workspace_id)
        assert model.labels[0].name == "primary"

        result = await Agent(model).run("hello")
        assert result.output == "from the backup"
        assert len(broken.requests) == 1

        broken.stop()  # now its port refuses connections
        async with Agent(model).run_stream("hello") as stream:
            assert await stream.get_output() == "streamed from the backup"
    assert len(fake_anthropic.requests) == 2


async def test_a_refused_connection_falls_back(
    session: AsyncSession, ai_settings: Settings, fake_openai: FakeOpenAI
) -> None:
    workspace_id = await new_workspace(session)
    await add_provider(session, workspace_id, base_url=unused_base_url(), name="gone", priority=1)
    await add_provider(session, workspace_id, fake_openai, name="alive", priority=5)
    fake_openai.answer(Text("still here"))
    model = await model_for(session, ai_settings, workspace_id)
    assert (await Agent(model).run("hi")).output == "still here"


async def test_rate_limit_is_retried_on_the_same_provider(
    session: AsyncSession, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    workspace_id = await new_workspace(session)
    await add_provider(session, workspace_id, fake_openai)
    fake_openai.answer(Failure.rate_limited(retry_after=0.05), Text("after the wait"))
    model = await model_for(session, with_ai_providers(settings, max_retries=1), workspace_id)
    assert (await Agent(model).run("hi")).output == "after the wait"
    assert len(fake_openai.requests) == 2


async def test_when_every_provider_fails_the_reasons_are_given_in_words(
    session: AsyncSession,
    ai_settings: Settings,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> None:
    workspace_id = await new_workspace(session)
    await add_provider(session, workspace_id, fake_openai, name="Main", priority=1)
    await add_provider(session, workspace_id, fake_anthropic, name="Claude", priority=2)
    await add_provider(session, workspace_id, base_url=unused_base_url(), name="Local", priority=3)
    fake_openai.answer(Failure.rate_limited(retry_after=30, message="slow down"))
    fake_anthropic.answer(Failure.server_error("internal trouble"))
    model = await model_for(session, ai_settings, workspace_id)
    with pytest.raises(ModelUnavailable) as raised:
        await Agent(model).run("hi")
    message = str(raised.value)
    assert message.startswith("No AI provider answered")
    assert "Main (openai, fake-gpt): the provider is rate limiting requests" in message
    assert "slow down" in message
    assert "Claude (anthropic, fake-claude): the provider had an error (HTTP 500" in message
    assert "internal trouble" in message
    assert "Local (openai, fake-gpt): could not connect" in message

    fake_openai.answer(Failure.server_error("nope"))
    fake_anthropic.answer(Failure.server_error("nope"))
    with pytest.raises(ModelUnavailable, match="No AI provider answered"):
        async with Agent(model).run_stream("hi") as stream:
            await stream.get_output()


async def test_a_wrong_key_says_the_key_was_refused(
    session: AsyncSession, ai_settings: Settings, fake_anthropic: FakeAnthropic
) -> None:
    workspace_id = await new_workspace(session)
    await add_provider(session, workspace_id, fake_anthropic, name="Claude", api_key="sk-wrong")
    model = await model_for(session, ai_settings, workspace_id)
    with pytest.raises(ModelUnavailable) as raised:
        await Agent(model).run("hi")
    assert "Claude (anthropic, fake-claude): the provider refused the API key (HTTP 401" in str(
        raised.value
    )
    assert fake_anthropic.requests[0].headers.get("authorization") == "Bearer sk-wrong"


async def test_a_slow_provider_times_out_and_the_next_answers(
    session: AsyncSession, ai_settings: Settings, fake_openai: FakeOpenAI
) -> None:
    workspace_id = await new_workspace(session)
    with FakeOpenAI() as slow:
        await add_provider(
            session, workspace_id, slow, name="Slow", priority=1, timeout_seconds=0.3
        )
        slow.answer(Slow(60, Text("too late")), Slow(60, Text("too late")))
        model = await model_for(session, ai_settings, workspace_id)
        with pytest.raises(ModelUnavailable, match=r"Slow .*did not answer in time"):
            await Agent(model).run("hi")
        await add_provider(session, workspace_id, fake_openai, name="Quick", priority=2)
        fake_openai.answer(Text("quick answer"))
        model = await model_for(session, ai_settings, workspace_id)
        assert (await Agent(model).run("hi")).output == "quick answer"


async def test_no_provider_or_none_enabled_is_unavailable_with_the_fix(
    session: AsyncSession, ai_settings: Settings, fake_openai: FakeOpenAI
) -> None:
    workspace_id = await new_workspace(session)
    with pytest.raises(ModelUnavailable) as raised:
        await model_for(session, ai_settings, workspace_id)
    assert str(raised.value) == NONE_CONFIGURED
    await add_provider(session, workspace_id, fake_openai, enabled=False)
    with pytest.raises(ModelUnavailable) as raised:
        await model_for(session, ai_settings, workspace_id)
    assert str(raised.value) == NONE_ENABLED


async def test_disabled_providers_are_skipped_and_order_follows_priority(
    session: AsyncSession,
    ai_settings: Settings,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> None:
    workspace_id = await new_workspace(session)
    await add_provider(session, workspace_id, fake_openai, name="off", priority=0, enabled=False)
    await add_provider(session, workspace_id, fake_anthropic, name="second", priority=20)
    await add_provider(session, workspace_id, fake_openai, name="first", priority=10)
    model = await model_for(session, ai_settings, workspace_id)
    assert [label.name for label in model.labels] == ["first", "second"]
    fake_openai.answer(Text("first answers"))
    assert (await Agent(model).run("hi")).output == "first answers"
    assert fake_anthropic.requests == []


async def test_a_base_url_no_longer_allowed_is_left_out_with_the_reason(
    session: AsyncSession, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    workspace_id = await new_workspace(session)
    await add_provider(session, workspace_id, fake_openai, name="Local")
    strict = with_ai_providers(settings, allow_loopback=False)
    with pytest.raises(ModelUnavailable) as raised:
        await model_for(session, strict, workspace_id)
    assert "Local (openai, fake-gpt): its base URL is refused" in str(raised.value)
    assert "loopback" in str(raised.value)
    assert fake_openai.requests == []


async def test_another_workspaces_providers_are_never_used(
    session: AsyncSession, ai_settings: Settings, fake_openai: FakeOpenAI
) -> None:
    mine = await new_workspace(session)
    theirs = await new_workspace(session)
    await add_provider(session, theirs, fake_openai)
    with pytest.raises(ModelUnavailable, match="No AI provider is configured"):
        await model_for(session, ai_settings, mine)
