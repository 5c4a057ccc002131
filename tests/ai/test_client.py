"""The API's client of `maily ai` against a real server that is stopped and started:
retries only before the first event, the circuit breaker, errors as HTTP errors."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from maily.ai import contracts
from maily.ai.client import (
    NOT_ANSWERING,
    AIModelUnavailable,
    AIServiceUnavailable,
    AIStreamBroken,
    AssistantClient,
)
from maily.ai.server import AssistantServer, serving_check
from maily.kit.errors import Unprocessable
from maily.kit.resilience import BreakerState
from tests.ai.conftest import Assistant, quick_ai_settings
from tests.ai.scripted import HANG, MODEL_DOWN, Script, scripted_runner


class Clock:
    """The breaker's clock, moved by the test instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def task(brief: str = "Spring sale") -> contracts.SubjectLinesTask:
    return contracts.SubjectLinesTask(
        workspace_id=uuid.uuid4(), task_id=uuid.uuid4(), brief=brief, count=2
    )


async def kinds(client: AssistantClient, brief: str = "Spring sale") -> list[str]:
    return [event.kind async for event in client.run(task(brief))]


class RefuseFirst(grpc.aio.ServerInterceptor):
    """Answers the first `n` Assistant calls with UNAVAILABLE, as a draining server does."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.refused = 0

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if self.left == 0 or "Assistant" not in details.method:
            return await continuation(details)
        self.left -= 1
        self.refused += 1

        async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
            yield  # pragma: no cover

        return grpc.unary_stream_rpc_method_handler(refuse)


async def test_a_task_streams_through_the_client(assistant: Assistant) -> None:
    client = AssistantClient(quick_ai_settings(assistant.port))
    try:
        events = [event async for event in client.run(task())]
    finally:
        await client.close()

    assert [e.kind for e in events] == ["started", "plan", "result"]
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[-1].data is not None
    assert contracts.SubjectLineSuggestions.model_validate(events[-1].data).items


async def test_unavailable_before_the_first_event_is_retried_and_the_task_runs_once() -> None:
    script = Script()
    refuse = RefuseFirst(2)
    server = AssistantServer(
        scripted_runner(script), host="127.0.0.1", port=0, interceptors=[refuse]
    )
    await server.start()
    client = AssistantClient(quick_ai_settings(server.port, retries=2))
    try:
        assert await kinds(client) == ["started", "plan", "result"]
    finally:
        await client.close()
        await server.stop(0)
    assert refuse.refused == 2
    assert len(script.tasks) == 1


async def test_retries_run_out_into_the_not_answering_error() -> None:
    refuse = RefuseFirst(10)
    script = Script()
    server = AssistantServer(
        scripted_runner(script), host="127.0.0.1", port=0, interceptors=[refuse]
    )
    await server.start()
    client = AssistantClient(quick_ai_settings(server.port, retries=2))
    try:
        with pytest.raises(AIServiceUnavailable) as refused:
            await kinds(client)
    finally:
        await client.close()
        await server.stop(0)
    assert refuse.refused == 3  # the first try and two retries
    assert refused.value.status_code == 503
    assert refused.value.message == NOT_ANSWERING
    assert script.tasks == []


async def test_a_task_that_streamed_is_never_sent_again(assistant: Assistant) -> None:
    client = AssistantClient(quick_ai_settings(assistant.port, retries=5))
    stream = client.run(task(f"{HANG} spring"))
    try:
        first = await anext(stream)
        assert first.kind == "started"
        await assistant.server.stop(0)  # the service dies mid-task

        with pytest.raises(AIStreamBroken) as broken:
            await anext(stream)
    finally:
        await stream.aclose()
        await client.close()
    assert "not run again" in broken.value.message
    assert len(assistant.script.tasks) == 1


async def test_the_breaker_opens_on_a_dead_service_fails_fast_and_closes_when_it_is_back() -> None:
    script = Script()
    server = AssistantServer(scripted_runner(script), host="127.0.0.1", port=0)
    port = await server.start()
    await server.stop(0)  # nothing listens on `port` now
    clock = Clock()
    settings = quick_ai_settings(
        port,
        retries=1,
        breaker_failure_threshold=2,
        breaker_reset_seconds=30,
        connect_timeout_seconds=0.3,
    )
    client = AssistantClient(settings, clock=clock, breaker_name="ai-test")
    restarted = AssistantServer(scripted_runner(script), host="127.0.0.1", port=port)
    try:
        for _ in range(2):
            with pytest.raises(AIServiceUnavailable):
                await kinds(client)
        assert client.state is BreakerState.open

        # Open: refused at once, with how long until the next try.
        with pytest.raises(AIServiceUnavailable) as fast:
            await kinds(client)
        assert fast.value.headers["Retry-After"] == "30"

        # Back on the same address; after the cooldown one trial call goes through.
        await restarted.start()
        clock.now += 31
        assert client.state is BreakerState.half_open
        assert await kinds(client) == ["started", "plan", "result"]
        assert client.state is BreakerState.closed
    finally:
        await client.close()
        await restarted.stop(0)
    assert len(script.tasks) == 1


async def test_answers_of_a_healthy_service_do_not_open_the_breaker(assistant: Assistant) -> None:
    client = AssistantClient(quick_ai_settings(assistant.port, breaker_failure_threshold=1))
    try:
        with pytest.raises(AIModelUnavailable) as no_model:
            await kinds(client, f"{MODEL_DOWN} spring")
        assert no_model.value.status_code == 503
        assert no_model.value.message == "provider openai: 401 invalid API key"

        invalid = contracts.SubjectLinesTask.model_construct(
            workspace_id=uuid.uuid4(), task_id=uuid.uuid4(), brief="", count=5, language="en",
            brand=contracts.Brand(), budget=contracts.Budget(), kind="subject_lines",
        )  # fmt: skip
        with pytest.raises(Unprocessable) as refused:
            _ = [event async for event in client.run(invalid)]
        assert "brief" in refused.value.message

        assert client.state is BreakerState.closed
        assert await kinds(client) == ["started", "plan", "result"]
    finally:
        await client.close()


async def test_the_trace_continues_from_the_api_into_the_ai_service() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    script = Script()
    server = AssistantServer(
        scripted_runner(script), host="127.0.0.1", port=0, tracer_provider=provider
    )
    await server.start()
    client = AssistantClient(quick_ai_settings(server.port), tracer_provider=provider)
    try:
        with provider.get_tracer("test").start_as_current_span("POST /ai/subject-lines") as parent:
            assert await kinds(client) == ["started", "plan", "result"]
    finally:
        await client.close()
        await server.stop(0)

    spans = {span.name: span for span in exporter.get_finished_spans()}
    method = "/maily.ai.v1.Assistant/SuggestSubjectLines"
    served = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert [s.name for s in served] == [method]
    trace_id = parent.get_span_context().trace_id
    assert served[0].context is not None
    assert served[0].context.trace_id == trace_id  # one trace, API to AI service
    assert spans["POST /ai/subject-lines"].context is not None
    called = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert called
    assert called[0].context is not None
    assert called[0].context.trace_id == trace_id
    assert served[0].parent is not None
    assert served[0].parent.span_id == called[0].context.span_id


async def test_the_ai_roles_readiness_asks_its_own_grpc_listener() -> None:
    server = AssistantServer(scripted_runner(Script()), host="127.0.0.1", port=0)
    port = await server.start()
    check = serving_check("0.0.0.0", port)
    await check()
    # Shutting down: NOT_SERVING first, then nothing listens at all.
    await server.health.enter_graceful_shutdown()
    with pytest.raises(RuntimeError, match="is NOT_SERVING"):
        await check()
    await server.stop(0)
    with pytest.raises(RuntimeError, match="does not answer: UNAVAILABLE"):
        await check()
