"""The fake model APIs speak the protocols the real SDKs expect, and fail on demand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider

from tests.ai.conftest import FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY
from tests.ai.fakes import (
    Failure,
    FakeAnthropic,
    FakeOpenAI,
    RecordedRequest,
    Slow,
    Structured,
    Text,
    ToolCall,
    unused_base_url,
)

ROOT = Path(__file__).resolve().parents[3]


class Headline(BaseModel):
    title: str
    words: int


def openai_model(fake: FakeOpenAI, key: str = FAKE_OPENAI_KEY) -> OpenAIChatModel:
    return OpenAIChatModel(
        "fake-model", provider=OpenAIProvider(base_url=fake.base_url, api_key=key)
    )


def anthropic_model(fake: FakeAnthropic, key: str = FAKE_ANTHROPIC_KEY) -> AnthropicModel:
    return AnthropicModel(
        "fake-claude", provider=AnthropicProvider(base_url=fake.base_url, api_key=key)
    )


async def test_openai_text_tool_call_and_stream(fake_openai: FakeOpenAI) -> None:
    fake_openai.answer(
        Text("Hello there", input_tokens=11, output_tokens=3),
        ToolCall({"title": "Spring sale", "words": 2}),
        Text("streamed words arrive in pieces"),
    )
    model = openai_model(fake_openai)
    result = await Agent(model, system_prompt="You are the writer.").run("Say hello")
    assert result.output == "Hello there"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (11, 3)
    structured = await Agent(model, output_type=Headline).run("A headline")
    assert structured.output == Headline(title="Spring sale", words=2)
    async with Agent(model).run_stream("Stream it") as stream:
        text = "".join([piece async for piece in stream.stream_text(delta=True)])
    assert text == "streamed words arrive in pieces"
    first, second, third = fake_openai.requests
    assert first.system == "You are the writer."
    assert first.user_text == "Say hello"
    assert second.output_tool == "final_result"
    assert not second.stream
    assert third.stream


async def test_anthropic_text_structured_and_stream(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.answer(
        Text("Bonjour", input_tokens=7, output_tokens=2),
        Structured(Headline(title="Winter", words=1)),
    )
    model = anthropic_model(fake_anthropic)
    result = await Agent(model, instructions="Be brief.").run("Greet")
    assert result.output == "Bonjour"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (7, 2)
    async with Agent(model, output_type=Headline).run_stream("Headline") as stream:
        assert await stream.get_output() == Headline(title="Winter", words=1)
    assert fake_anthropic.requests[0].system == "Be brief."
    assert fake_anthropic.requests[1].stream
    assert fake_anthropic.requests[1].output_tool


async def test_answers_by_request(fake_openai: FakeOpenAI) -> None:
    def by_agent(request: RecordedRequest) -> Text:
        return Text("critic says ok" if "critic" in request.system else "writer draft")

    fake_openai.respond_with(by_agent)
    model = openai_model(fake_openai)
    assert (await Agent(model, system_prompt="You are the critic.").run("x")).output == (
        "critic says ok"
    )
    assert (await Agent(model, system_prompt="You are the writer.").run("x")).output == (
        "writer draft"
    )


async def test_failures_in_the_providers_formats() -> None:
    with FakeOpenAI(api_key="right") as openai, FakeAnthropic(api_key="right") as anthropic:
        openai.answer(Failure.server_error("boom"), Failure.rate_limited(retry_after=2))
        anthropic.answer(Failure.rate_limited(retry_after=3))
        async with httpx.AsyncClient() as client:
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            auth = {"authorization": "Bearer right"}
            response = await client.post(
                f"{openai.base_url}/chat/completions", json=body, headers=auth
            )
            assert response.status_code == 500
            assert response.json()["error"]["message"] == "boom"
            response = await client.post(
                f"{openai.base_url}/chat/completions", json=body, headers=auth
            )
            assert (response.status_code, response.headers["retry-after"]) == (429, "2")
            wrong = {"authorization": "Bearer wrong"}
            response = await client.post(
                f"{openai.base_url}/chat/completions", json=body, headers=wrong
            )
            assert response.status_code == 401
            response = await client.post(
                f"{anthropic.base_url}/v1/messages", json=body, headers={"x-api-key": "right"}
            )
            assert (response.status_code, response.headers["retry-after"]) == (429, "3")
            assert response.json()["error"]["type"] == "rate_limit_error"
            response = await client.post(
                f"{anthropic.base_url}/v1/messages", json=body, headers={"x-api-key": "nope"}
            )
            assert response.json()["error"]["type"] == "authentication_error"
            # nothing scripted: a 500 that says so
            response = await client.post(
                f"{openai.base_url}/chat/completions", json=body, headers=auth
            )
            assert "no scripted answer" in response.json()["error"]["message"]
            models = await client.get(f"{openai.base_url}/models", headers=auth)
            assert [m["id"] for m in models.json()["data"]] == ["fake-model"]


async def test_wrong_key_reaches_pydantic_ai_as_401(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(ModelHTTPError) as raised:
        await Agent(openai_model(fake_openai, key="wrong")).run("hi")
    assert raised.value.status_code == 401


async def test_slow_answer_times_out_and_stopped_server_refuses(fake_openai: FakeOpenAI) -> None:
    fake_openai.answer(Slow(30, Text("late")))
    async with httpx.AsyncClient(timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(
                f"{fake_openai.base_url}/chat/completions",
                json={"model": "m", "messages": []},
                headers={"authorization": f"Bearer {FAKE_OPENAI_KEY}"},
            )
    base = fake_openai.base_url
    fake_openai.stop()  # returns promptly although the slow answer was pending
    async with httpx.AsyncClient() as client:
        for url in (base, unused_base_url()):
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{url}/models")


def test_standalone_process_with_script_and_control(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "rules": [{"system_contains": "critic", "answer": {"text": "looks good"}}],
                "default": {"structured": {"title": "From file", "words": 2}},
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.ai.fakes", "openai", "--script", str(script)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = json.loads(process.stdout.readline())["base_url"]
        with httpx.Client() as client:
            ask = {"model": "m", "messages": [{"role": "system", "content": "You are the critic."}]}
            answer = client.post(f"{base_url}/chat/completions", json=ask).json()
            assert answer["choices"][0]["message"]["content"] == "looks good"
            answer = client.post(f"{base_url}/chat/completions", json={"messages": []}).json()
            assert json.loads(answer["choices"][0]["message"]["content"])["title"] == "From file"
            root = base_url.removesuffix("/v1")
            client.post(f"{root}/_fake/answers", json=[{"error": 503, "message": "down"}])
            failed = client.post(f"{base_url}/chat/completions", json={"messages": []})
            assert failed.status_code == 503
            received = client.get(f"{root}/_fake/requests").json()
            assert len(received) == 3
            assert received[0]["body"] == ask
    finally:
        process.terminate()
        process.wait(15)
