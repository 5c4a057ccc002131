"""`maily ai`: the Assistant gRPC service, with gRPC health checking and graceful stop.

Each RPC turns its request into a contract Task (a bad one is INVALID_ARGUMENT with the
reason), runs it through the TaskRunner and streams the ProgressEvents as TaskEvents.
A task that cannot start because no model answers fails with FAILED_PRECONDITION and
the reason; one that fails after it has streamed ends with an event of kind "error".
The caller's deadline bounds the work: what is left of it is the task's time limit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import Counter, Gauge

from maily.ai import contracts, wire
from maily.ai.runtime import TaskRunner, task_runner
from maily.ai.v1 import assistant_pb2 as pb
from maily.ai.v1 import assistant_pb2_grpc as pb_grpc
from maily.config import Settings
from maily.kit.health import Check
from maily.kit.logging import get_logger
from maily.kit.tracing import configure_tracing

SERVICE_NAME: Final = "maily.ai.v1.Assistant"
# The task stops this much before the caller's deadline, so the caller still gets
# its last event instead of DEADLINE_EXCEEDED.
_DEADLINE_MARGIN_SECONDS: Final = 0.1

TASKS: Final = Counter(
    "maily_ai_tasks_total",
    "AI tasks the service ran, by kind and outcome.",
    ["kind", "outcome"],
)
TASKS_RUNNING: Final = Gauge("maily_ai_tasks_running", "AI tasks running in this process.")

_log = get_logger("maily.ai.server")

Context = grpc.aio.ServicerContext[Any, pb.TaskEvent]


class AssistantServicer(pb_grpc.AssistantServicer):
    # gRPC streams a method's answers only if the method itself is an async generator.
    def __init__(self, runner: TaskRunner, max_concurrent_tasks: int) -> None:
        self.runner = runner
        self.max_concurrent_tasks = max_concurrent_tasks
        self.running = 0

    async def DraftCampaign(
        self, request: pb.DraftCampaignRequest, context: Context
    ) -> AsyncIterator[pb.TaskEvent]:
        async for event in self._run(request, context):
            yield event

    async def ReviseTemplate(
        self, request: pb.ReviseTemplateRequest, context: Context
    ) -> AsyncIterator[pb.TaskEvent]:
        async for event in self._run(request, context):
            yield event

    async def SuggestSubjectLines(
        self, request: pb.SubjectLinesRequest, context: Context
    ) -> AsyncIterator[pb.TaskEvent]:
        async for event in self._run(request, context):
            yield event

    async def SuggestPersonalisation(
        self, request: pb.PersonalisationRequest, context: Context
    ) -> AsyncIterator[pb.TaskEvent]:
        async for event in self._run(request, context):
            yield event

    async def _run(self, request: Any, context: Context) -> AsyncIterator[pb.TaskEvent]:
        try:
            task = wire.task_of(request)
        except wire.InvalidTask as error:
            TASKS.labels(kind=type(request).__name__, outcome="invalid").inc()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        if self.running >= self.max_concurrent_tasks:
            TASKS.labels(kind=task.kind, outcome="refused").inc()
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the AI service is running {self.running} tasks, its limit; try again shortly",
            )
        self.running += 1
        TASKS_RUNNING.inc()
        seq = 0
        outcome = "error"
        log = _log.bind(
            task_id=str(task.task_id), kind=task.kind, workspace_id=str(task.workspace_id)
        )
        try:
            remaining = context.time_remaining()
            loop = asyncio.get_running_loop()
            deadline = (
                None
                if remaining is None
                else loop.time() + max(0.0, remaining - _DEADLINE_MARGIN_SECONDS)
            )
            events = aiter(self.runner(task))
            try:
                while True:
                    # Only the runner's own work is timed, never a yield: a timeout
                    # must not land in gRPC's code while it writes an event.
                    async with asyncio.timeout_at(deadline):
                        try:
                            event = await anext(events)
                        except StopAsyncIteration:
                            break
                    seq += 1
                    yield wire.event_message(task.task_id, seq, event)
                    if event.kind in ("result", "error"):
                        outcome = event.kind
                        return
            finally:
                closer = getattr(events, "aclose", None)
                if closer is not None:
                    await closer()
            # The runner ended without a last event: say so rather than end silently.
            seq += 1
            yield _error(task, seq, "the task ended without a result")
        except contracts.ModelUnavailable as error:
            outcome = "model_unavailable"
            log.info("no model answered", reason=str(error))
            if seq == 0:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
            yield _error(task, seq + 1, str(error), reason="model_unavailable")
        except TimeoutError:
            outcome = "deadline"
            log.info("task ran out of time")
            if seq == 0:
                await context.abort(
                    grpc.StatusCode.DEADLINE_EXCEEDED, "the task did not finish in time"
                )
            yield _error(task, seq + 1, "the task did not finish in time", reason="deadline")
        except asyncio.CancelledError:
            outcome = "cancelled"  # the caller went away or its deadline passed
            raise
        except grpc.aio.AbortError:
            raise
        except Exception:
            outcome = "failed"
            log.exception("task failed")
            if seq == 0:
                await context.abort(grpc.StatusCode.INTERNAL, "the AI service failed on this task")
            yield _error(task, seq + 1, "the AI service failed on this task", reason="internal")
        finally:
            self.running -= 1
            TASKS_RUNNING.dec()
            TASKS.labels(kind=task.kind, outcome=outcome).inc()


def _error(task: contracts.Task, seq: int, message: str, reason: str = "failed") -> pb.TaskEvent:
    return wire.event_message(
        task.task_id,
        seq,
        contracts.ProgressEvent(kind="error", message=message, data={"reason": reason}),
    )


class AssistantServer:
    """The gRPC server of one `maily ai` process: the Assistant and gRPC health."""

    def __init__(
        self,
        runner: TaskRunner,
        *,
        host: str,
        port: int,
        max_concurrent_tasks: int = 16,
        tracer_provider: TracerProvider | None = None,
        interceptors: list[grpc.aio.ServerInterceptor] | None = None,
    ) -> None:
        self.address = f"{host}:{port}"
        self.servicer = AssistantServicer(runner, max_concurrent_tasks)
        self.health = health.aio.HealthServicer()
        self.port = 0
        self.tracer_provider = tracer_provider
        self.interceptors = list(interceptors or [])
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Listen and report SERVING; returns the port (a free one when asked for 0)."""
        from opentelemetry.instrumentation.grpc import aio_server_interceptor

        interceptors = list(self.interceptors)
        if self.tracer_provider is not None:
            # Continues the caller's trace from the request's metadata (traceparent).
            interceptors.append(
                aio_server_interceptor(tracer_provider=self.tracer_provider)  # type: ignore[no-untyped-call]
            )
        server = grpc.aio.server(interceptors=interceptors)
        pb_grpc.add_AssistantServicer_to_server(self.servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        self.port = server.add_insecure_port(self.address)
        if self.port == 0:
            raise OSError(f"the AI service cannot listen on {self.address}")
        await server.start()
        self._server = server
        for service in ("", SERVICE_NAME):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        _log.info("AI service listening", address=self.address, port=self.port)
        return self.port

    async def stop(self, grace: float) -> None:
        """NOT_SERVING at once, then let running tasks finish for up to `grace` seconds."""
        if self._server is None:
            return
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace)
        self._server = None

    async def serving(self) -> None:
        """A readiness check: passes while the server is up."""
        if self._server is None:
            raise RuntimeError("the gRPC server is not running")


def serving_check(host: str, port: int) -> Check:
    """The `ai` role's readiness: its own gRPC listener answers the standard health
    check with SERVING, over the network as the API would reach it (a wildcard listen
    address is dialled on loopback). The channel is opened once and reused."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - a listen address, not a bind
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    channel: grpc.aio.Channel | None = None

    async def check() -> None:
        nonlocal channel
        if channel is None:
            channel = grpc.aio.insecure_channel(target)
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=SERVICE_NAME)
        try:
            # grpcio-health-checking's stub sets its methods in __init__, unseen by mypy.
            reply = await stub.Check(request)  # type: ignore[attr-defined]
        except grpc.aio.AioRpcError as exc:
            raise RuntimeError(
                f"the AI service's gRPC listener at {target} does not answer: "
                f"{exc.code().name} {exc.details() or ''}".strip()
            ) from None
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            raise RuntimeError(f"the AI service's gRPC health at {target} is {status}")

    return check


async def run_ai(
    settings: Settings, stop: asyncio.Event, *, runner: TaskRunner | None = None
) -> None:
    """The `ai` role's main loop: serve until `stop` is set, then stop gracefully."""
    async with contextlib.AsyncExitStack() as stack:
        if runner is None:
            runner = await stack.enter_async_context(task_runner(settings))
        server = AssistantServer(
            runner,
            host=settings.ai.host,
            port=settings.ai.port,
            max_concurrent_tasks=settings.ai.max_concurrent_tasks,
            # The provider `run_role` set up for this role (None when tracing is off).
            tracer_provider=configure_tracing(settings, "ai"),
        )
        await server.start()
        try:
            await stop.wait()
        finally:
            await server.stop(settings.ai.shutdown_grace_seconds)
