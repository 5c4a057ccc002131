"""The Assistant gRPC server over a real channel: health, streaming, validation,
deadlines, model failures and the concurrency limit."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from maily.ai import contracts
from maily.ai.server import SERVICE_NAME, AssistantServer
from maily.ai.v1 import assistant_pb2 as pb
from maily.ai.v1 import assistant_pb2_grpc as pb_grpc
from tests.ai.conftest import Assistant
from tests.ai.scripted import BREAK, HANG, MODEL_DOWN, MODEL_DOWN_LATER, Script, scripted_runner

WAIT = 10.0  # longest any condition below may take to become true


@pytest.fixture
async def channel(assistant: Assistant) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{assistant.port}") as channel:
        yield channel


def subject_lines(brief: str, **fields: object) -> pb.SubjectLinesRequest:
    return pb.SubjectLinesRequest(
        workspace_id=str(uuid.uuid4()), task_id=str(uuid.uuid4()), brief=brief, **fields
    )


async def events_of(call: object) -> list[pb.TaskEvent]:
    return [event async for event in call]  # type: ignore[attr-defined]


async def test_health_reports_serving_for_the_server_and_the_assistant(
    channel: grpc.aio.Channel,
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE_NAME):
        answer = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=WAIT)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=WAIT)
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND


async def test_a_stopping_server_says_not_serving_and_lets_running_tasks_finish() -> None:
    script = Script()
    server = AssistantServer(scripted_runner(script), host="127.0.0.1", port=0)
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=WAIT
        )
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        running = pb_grpc.AssistantStub(channel).SuggestSubjectLines(
            subject_lines(f"{HANG} spring"), timeout=WAIT
        )
        assert (await running.read()).kind == "started"

        stopping = asyncio.create_task(server.stop(grace=WAIT))
        update = await watch.read()
        assert update.status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()  # a watcher would hold the graceful stop for all of its grace too
        assert not stopping.done()  # the running task holds the graceful stop
        script.release.set()
        rest = []
        while (event := await running.read()) is not grpc.aio.EOF:
            rest.append(event)
        await asyncio.wait_for(stopping, WAIT)
    assert rest[-1].kind == "result"  # it finished during the graceful stop
    assert not script.cancelled.is_set()


async def test_a_task_streams_numbered_events_ending_with_its_typed_result(
    channel: grpc.aio.Channel, assistant: Assistant
) -> None:
    workspace_id, task_id = uuid.uuid4(), uuid.uuid4()
    request = pb.SubjectLinesRequest(
        workspace_id=str(workspace_id),
        task_id=str(task_id),
        brief="Spring sale on garden tools",
        count=2,
        brand=pb.Brand(name="Acme", voice="plain", postal_address="1 Main St, Springfield"),
    )

    events = await events_of(
        pb_grpc.AssistantStub(channel).SuggestSubjectLines(request, timeout=WAIT)
    )

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {e.task_id for e in events} == {str(task_id)}
    assert [e.kind for e in events] == ["started", "plan", "result"]
    assert json.loads(events[1].data_json) == {"steps": ["copywriter", "critic"]}
    result = contracts.SubjectLineSuggestions.model_validate_json(events[-1].data_json)
    assert [line.text for line in result.items] == ["Spring is here", "Your spring edit"]
    # The request arrived as the contract's task, zero values meaning the defaults.
    (task,) = assistant.script.tasks
    assert task == contracts.SubjectLinesTask(
        workspace_id=workspace_id,
        task_id=task_id,
        brief="Spring sale on garden tools",
        count=2,
        language="en",
        brand=contracts.Brand(name="Acme", voice="plain", postal_address="1 Main St, Springfield"),
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (subject_lines(""), "brief"),
        (subject_lines("fine", count=11), "count"),
        (pb.SubjectLinesRequest(workspace_id="nope", task_id=str(uuid.uuid4()), brief="x"), "workspace_id"),
        (pb.ReviseTemplateRequest(workspace_id=str(uuid.uuid4()), task_id=str(uuid.uuid4()), mode="louder", mjml="<p>x</p>"), "mode"),
    ],
)  # fmt: skip
async def test_an_invalid_task_is_invalid_argument_with_the_reason(
    channel: grpc.aio.Channel, assistant: Assistant, request_: object, expected: str
) -> None:
    stub = pb_grpc.AssistantStub(channel)
    method = (
        stub.ReviseTemplate
        if isinstance(request_, pb.ReviseTemplateRequest)
        else stub.SuggestSubjectLines
    )

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await events_of(method(request_, timeout=WAIT))  # type: ignore[arg-type]

    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (refused.value.details() or "")
    assert assistant.script.tasks == []  # nothing ran


async def test_the_callers_deadline_bounds_the_task(
    channel: grpc.aio.Channel, assistant: Assistant
) -> None:
    call = pb_grpc.AssistantStub(channel).SuggestSubjectLines(
        subject_lines(f"{HANG} spring"), timeout=1.0
    )
    received: list[pb.TaskEvent] = []
    code = grpc.StatusCode.OK
    try:
        async for event in call:
            received.append(event)
    except grpc.aio.AioRpcError as error:
        code = error.code()

    # The server stops the task itself just before the deadline (its last event says
    # why), or the deadline passes first; either way the work is cancelled.
    assert received[0].kind == "started"
    if code is grpc.StatusCode.OK:
        assert received[-1].kind == "error"
        assert json.loads(received[-1].data_json) == {"reason": "deadline"}
    else:
        assert code is grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(assistant.script.cancelled.wait(), WAIT)


async def test_no_model_before_the_first_event_is_failed_precondition_with_the_reason(
    channel: grpc.aio.Channel,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await events_of(
            pb_grpc.AssistantStub(channel).SuggestSubjectLines(
                subject_lines(f"{MODEL_DOWN} spring"), timeout=WAIT
            )
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == "provider openai: 401 invalid API key"


async def test_no_model_after_events_ends_the_stream_with_an_error_event(
    channel: grpc.aio.Channel,
) -> None:
    events = await events_of(
        pb_grpc.AssistantStub(channel).SuggestSubjectLines(
            subject_lines(f"{MODEL_DOWN_LATER} spring"), timeout=WAIT
        )
    )
    assert [e.kind for e in events] == ["started", "plan", "error"]
    assert events[-1].message == "every provider failed: openai timed out"
    assert json.loads(events[-1].data_json) == {"reason": "model_unavailable"}


async def test_an_unexpected_failure_ends_with_an_error_event_not_a_broken_stream(
    channel: grpc.aio.Channel,
) -> None:
    events = await events_of(
        pb_grpc.AssistantStub(channel).SuggestSubjectLines(
            subject_lines(f"{BREAK} spring"), timeout=WAIT
        )
    )
    assert events[-1].kind == "error"
    assert json.loads(events[-1].data_json) == {"reason": "internal"}
    assert "a bug in an agent" not in events[-1].message  # internals stay in the log


async def test_tasks_past_the_limit_are_refused_as_resource_exhausted() -> None:
    script = Script()
    server = AssistantServer(
        scripted_runner(script), host="127.0.0.1", port=0, max_concurrent_tasks=1
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.AssistantStub(channel)
            first = stub.SuggestSubjectLines(subject_lines(f"{HANG} one"), timeout=WAIT)
            assert (await first.read()).kind == "started"

            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await events_of(stub.SuggestSubjectLines(subject_lines("two"), timeout=WAIT))
            assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED

            first.cancel()
            await asyncio.wait_for(script.cancelled.wait(), WAIT)
            # The slot is free again.
            events = await events_of(stub.SuggestSubjectLines(subject_lines("three"), timeout=WAIT))
            assert events[-1].kind == "result"
    finally:
        await server.stop(0)
