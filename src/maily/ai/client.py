"""The API's client of `maily ai`: one gRPC channel per process, a deadline on every call,
retries before the first event only, and a circuit breaker that fails fast while the
service is down.

A task that has streamed an event is never sent again (it may have spent tokens and
written drafts); only a call refused as UNAVAILABLE before anything came back is
retried, with full-jitter exponential backoff. Every failure becomes a maily.kit.errors
error the API answers with (503 while the service or every model is unavailable)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import grpc
from opentelemetry.sdk.trace import TracerProvider

from maily.ai import contracts, wire
from maily.ai.v1 import assistant_pb2 as pb
from maily.ai.v1 import assistant_pb2_grpc as pb_grpc
from maily.config import AISettings
from maily.kit.errors import MailyError, ServiceUnavailable, Unprocessable
from maily.kit.logging import get_logger
from maily.kit.resilience import BreakerState, CircuitBreaker, backoff

NOT_ANSWERING: Final = (
    "The AI service is not answering; generative features are unavailable until it is "
    "back. Everything else keeps working."
)

# How quickly a channel tries again to reach a service that went away: a restarted
# `maily ai` is in use within about this long, without restarting the API.
_CHANNEL_OPTIONS: Final = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]

# Outcomes that say nothing about the service's health: it answered, the request
# (or the workspace's model setup) was the problem.
_ANSWERED: Final = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
}

_log = get_logger("maily.ai.client")


class AIServiceUnavailable(ServiceUnavailable):
    """`maily ai` cannot be reached (or its breaker is open)."""

    code = "ai_unavailable"

    def __init__(self, message: str = NOT_ANSWERING, *, retry_after: float | None = None) -> None:
        headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
        super().__init__(message, headers=headers)


class AIModelUnavailable(ServiceUnavailable):
    """The service answered, but no model provider of the workspace did."""

    code = "ai_model_unavailable"


class AIBusy(ServiceUnavailable):
    code = "ai_busy"


class AITimeout(ServiceUnavailable):
    code = "ai_timeout"


class AIStreamBroken(ServiceUnavailable):
    """The service went away while a task was streaming; the task is not run again."""

    code = "ai_interrupted"


def _error_of(error: grpc.aio.AioRpcError) -> MailyError:
    code = error.code()
    details = error.details() or ""
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return Unprocessable(f"the AI task is not valid: {details}")
    if code is grpc.StatusCode.FAILED_PRECONDITION:
        return AIModelUnavailable(details or "no AI model is available for this workspace")
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        return AIBusy(details or "the AI service is busy; try again shortly")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return AITimeout("the AI task did not finish in time; try a shorter brief or again later")
    return AIServiceUnavailable()


class AssistantClient:
    """Calls the Assistant service. Make one per process and share it (`close()` at exit);
    the channel is made on first use, in the running event loop."""

    def __init__(
        self,
        settings: AISettings,
        *,
        tracer_provider: TracerProvider | None = None,
        breaker_name: str = "ai",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.target = settings.dial_target
        self.tracer_provider = tracer_provider
        self.breaker = CircuitBreaker(
            breaker_name,
            failure_threshold=settings.breaker_failure_threshold,
            cooldown_seconds=settings.breaker_reset_seconds,
            clock=clock,
        )
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.AssistantAsyncStub | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def _connect(self) -> pb_grpc.AssistantAsyncStub:
        if self._stub is None:
            from opentelemetry.instrumentation.grpc import aio_client_interceptors

            # Carries the caller's trace context in the call's metadata (traceparent),
            # so API and AI service spans make one trace.
            interceptors = aio_client_interceptors(tracer_provider=self.tracer_provider)  # type: ignore[no-untyped-call]
            self._channel = grpc.aio.insecure_channel(
                self.target, options=_CHANNEL_OPTIONS, interceptors=interceptors
            )
            self._stub = pb_grpc.AssistantStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        for closing in list(self._closing):
            closing.cancel()
        self._channel = None
        self._stub = None

    async def _ready(self, seconds: float) -> bool:
        """Whether the channel is connected, waiting up to `seconds` for it to connect.

        A channel whose service went away retries the connection on its own (backoff
        capped at 2 s); waiting here lets a call use a restarted service at once instead
        of failing on a channel that has not noticed yet."""
        self._connect()
        assert self._channel is not None
        state = self._channel.get_state(try_to_connect=True)
        if state is grpc.ChannelConnectivity.READY:
            return True
        try:
            await asyncio.wait_for(self._channel.channel_ready(), seconds)
        except TimeoutError:
            # The channel waits out its own backoff before it tries again; a new one
            # tries at once, so the next attempt finds a service that just came back.
            self._replace_channel()
            return False
        return True

    def _replace_channel(self) -> None:
        old = self._channel
        self._channel = None
        self._stub = None
        if old is not None:
            # Calls still on the old channel keep running until their deadline.
            closing = asyncio.create_task(old.close(grace=self.settings.deadline_seconds))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        self._connect()

    def _call(self, task: contracts.Task, timeout: float) -> Any:
        stub = self._connect()
        method = getattr(stub, wire.METHODS[task.kind])
        return method(wire.request_of(task), timeout=timeout)

    async def run(self, task: contracts.Task) -> AsyncIterator[wire.TaskEventOut]:
        """Stream the task's events; the last is kind "result" or "error".

        Raises before the first event: AIServiceUnavailable (down, breaker open),
        AIModelUnavailable, AIBusy, AITimeout, Unprocessable. After it: AIStreamBroken
        or AITimeout when the stream ends early."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.deadline_seconds
        if not self.breaker.allow():
            raise AIServiceUnavailable(retry_after=self.breaker.retry_after)
        attempt = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self.breaker.record_failure()
                raise AITimeout("the AI task did not finish in time")
            call: Any = None
            unavailable = not await self._ready(
                min(self.settings.connect_timeout_seconds, remaining)
            )
            if not unavailable:
                call = self._call(task, deadline - loop.time())
                responses = aiter(call)
                try:
                    first: pb.TaskEvent | None = await anext(responses)
                except StopAsyncIteration:
                    first = None
                except grpc.aio.AioRpcError as error:
                    if error.code() is not grpc.StatusCode.UNAVAILABLE:
                        if error.code() in _ANSWERED:
                            self.breaker.record_success()
                        else:
                            self.breaker.record_failure()
                            _log.warning(
                                "AI service call failed",
                                code=error.code().name,
                                details=error.details(),
                            )
                        raise _error_of(error) from error
                    unavailable = True
                except BaseException:
                    call.cancel()  # our side gave up (cancelled): nothing learnt about the service
                    raise
            if not unavailable:
                break
            # Nothing was sent or nothing came back: trying again cannot run the task twice.
            if attempt >= self.settings.retries:
                self.breaker.record_failure()
                _log.warning("AI service unavailable", target=self.target, attempts=attempt + 1)
                raise AIServiceUnavailable()
            attempt += 1
            delay = backoff(
                attempt, self.settings.retry_base_seconds, self.settings.retry_max_seconds
            )
            _log.info("AI service unavailable, retrying", attempt=attempt, delay=delay)
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        self.breaker.record_success()
        if first is None:
            raise AIStreamBroken("the AI service ended the task without a result")
        try:
            yield wire.event_of(first)
            async for message in responses:
                yield wire.event_of(message)
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                raise AITimeout("the AI task did not finish in time") from error
            self.breaker.record_failure()
            raise AIStreamBroken(
                "the AI service stopped answering while it worked on this task; "
                "it was not run again, so nothing was saved"
            ) from error
        finally:
            call.cancel()  # a caller that stopped reading ends the task

    @property
    def state(self) -> BreakerState:
        return self.breaker.state
