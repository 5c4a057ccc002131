"""Fake model APIs on loopback: an OpenAI-compatible and an Anthropic-compatible HTTP
server that speak the real wire protocols (JSON and SSE streaming), answer from a
script, fail on demand and record every request they receive.

Use in tests::

    with FakeOpenAI(api_key="sk-test") as fake:          # serves in its own thread
        fake.answer(Text("Hello"), ToolCall({"title": "x"}), Failure.server_error())
        fake.respond_with(lambda request: Text("hi") if "writer" in request.system else ...)
        ...  # point an OpenAI client at fake.base_url with api_key="sk-test"
        fake.requests[0].body, fake.wait_for(2), fake.stop()

Or as a process (for `maily ai` subprocess tests)::

    python -m tests.ai.fakes openai --port 0 --script answers.json [--api-key K]

which prints one JSON line `{"base_url": ...}` once it listens. The script file holds a
list of answers or {"answers": [...], "rules": [...], "default": answer}; see
`answer_from_json`. A running process also answers `GET /_fake/requests` (everything it
received), `POST /_fake/answers` (a JSON list of answers to queue) and `POST /_fake/reset`.

Every request consumes one answer: queued answers first, then the `respond_with`
function, then `default`. SDK clients retry 429 and 5xx by themselves, and each retry is
a request of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import itertools
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self

import uvicorn
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

# -- answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A plain text answer (streamed in a few chunks when the request streams)."""

    text: str
    input_tokens: int | None = None  # None: estimated from the request's size
    output_tokens: int | None = None  # None: estimated from the answer's size


@dataclass(frozen=True)
class ToolCall:
    """A call of one tool with JSON arguments — how pydantic-ai's default tool output
    (a tool named `final_result`) returns structured output."""

    arguments: dict[str, Any] | str
    name: str = "final_result"
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Structured:
    """Structured output, whichever way the request asks for it: a call of the request's
    output tool (the offered tool whose name starts with `final_result`) when there is
    one, otherwise the JSON as text (native/prompted output modes)."""

    data: dict[str, Any] | list[Any] | BaseModel
    input_tokens: int | None = None
    output_tokens: int | None = None

    def as_json(self) -> Any:
        if isinstance(self.data, BaseModel):
            return self.data.model_dump(mode="json")
        return self.data


@dataclass(frozen=True)
class Failure:
    """An HTTP error in the provider's own error format."""

    status: int
    message: str
    retry_after: float | None = None
    error_type: str = ""  # the provider's error type; derived from status when empty

    @classmethod
    def server_error(cls, message: str = "The server had an error") -> Failure:
        return cls(500, message)

    @classmethod
    def rate_limited(cls, retry_after: float = 1, message: str = "Rate limit reached") -> Failure:
        return cls(429, message, retry_after=retry_after)

    @classmethod
    def unauthorized(cls, message: str = "Invalid API key") -> Failure:
        return cls(401, message)


@dataclass(frozen=True)
class Slow:
    """Wait `seconds` before answering with `then` (for client timeouts). The wait ends
    early when the server stops."""

    seconds: float
    then: Answer = field(default_factory=lambda: Text("late"))


Answer = Text | ToolCall | Structured | Failure | Slow
Script = Callable[["RecordedRequest"], "Answer | Awaitable[Answer]"]


# -- recorded requests ------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]  # parsed JSON ({} when there was none)
    at: float  # time.time() on arrival

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def system(self) -> str:
        """The system prompt / instructions, joined (both protocols)."""
        parts: list[str] = []
        system = self.body.get("system")
        if isinstance(system, str):
            parts.append(system)
        elif isinstance(system, list):
            parts.extend(_block_texts(system))
        for message in self.body.get("messages", []):
            if message.get("role") in ("system", "developer"):
                parts.extend(_content_texts(message.get("content")))
        return "\n\n".join(parts)

    @property
    def user_text(self) -> str:
        """Everything the user turns say (text and tool results), joined."""
        parts: list[str] = []
        for message in self.body.get("messages", []):
            if message.get("role") in ("user", "tool"):
                parts.extend(_content_texts(message.get("content")))
        return "\n\n".join(parts)

    @property
    def text(self) -> str:
        """System prompt and every message's text, joined: for "was X sent at all"."""
        parts = [self.system]
        for message in self.body.get("messages", []):
            if message.get("role") not in ("system", "developer"):
                parts.extend(_content_texts(message.get("content")))
                for call in message.get("tool_calls") or []:
                    parts.append(str(call.get("function", {}).get("arguments", "")))
        return "\n\n".join(p for p in parts if p)

    @property
    def tool_names(self) -> list[str]:
        names: list[str] = []
        for tool in self.body.get("tools") or []:
            if "function" in tool:  # OpenAI
                names.append(str(tool["function"].get("name", "")))
            elif "name" in tool:  # Anthropic
                names.append(str(tool["name"]))
        return names

    @property
    def output_tool(self) -> str | None:
        """The name of the output tool pydantic-ai offered (`final_result…`), if any."""
        return next((n for n in self.tool_names if n.startswith("final_result")), None)


def _content_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return _block_texts(content)
    return []


def _block_texts(blocks: list[Any]) -> list[str]:
    texts: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_result":
            texts.extend(_content_texts(block.get("content")))
    return texts


# -- the server ---------------------------------------------------------------------

_ids = itertools.count(1)


def _estimate_tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, default=str)) // 4)


class FakeModelServer:
    """The parts both protocols share: script, recording, lifecycle."""

    kind: ClassVar[str]
    api_prefix: ClassVar[str] = "/v1"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: tuple[str, ...] = ("fake-model",),
        default: Answer | None = None,
    ) -> None:
        self.api_key = api_key  # None: any key (or none) is accepted
        self.models = models
        self.default = default  # None: an unscripted request gets a 500 saying so
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Answer] = deque()
        self._script: Script | None = None
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self.host = "127.0.0.1"
        self.port = 0

    # -- scripting --

    def answer(self, *answers: Answer) -> None:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self._queue.extend(answers)

    def respond_with(self, script: Script | None) -> None:
        """Answer requests the queue does not cover with `script(request)`."""
        self._script = script

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
        self._script = None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[RecordedRequest]:
        """Block until `count` requests have arrived (raise TimeoutError after `timeout`)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"{len(self.requests)} of {count} requests arrived")
            return list(self.requests)

    async def wait_for_async(self, count: int, timeout: float = 30.0) -> list[RecordedRequest]:
        return await asyncio.to_thread(self.wait_for, count, timeout)

    async def _next_answer(self, request: RecordedRequest) -> Answer:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            if self._queue:
                return self._queue.popleft()
        if self._script is not None:
            result = self._script(request)
            if inspect.isawaitable(result):
                result = await result
            return result
        if self.default is not None:
            return self.default
        return Failure(500, f"fake {self.kind} server: no scripted answer for this request")

    # -- addresses --

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give the SDK / pydantic-ai provider as base_url."""
        raise NotImplementedError

    # -- lifecycle: serves in a thread of its own, so a blocked test loop (a subprocess
    # wait, synchronous code) cannot stall it --

    def start(self, port: int = 0) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app(),
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
            )
        )
        self._started.clear()
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"fake-{self.kind}", daemon=True
        )
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError(f"fake {self.kind} server did not start")
        return self

    def _run(self, sock: socket.socket) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            self._started.set()
            assert self._server is not None
            await self._server.serve(sockets=[sock])

        try:
            asyncio.run(serve())
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop serving: connections to the port are refused afterwards."""
        if self._thread is None or self._server is None:
            return
        self._server.should_exit = True
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(15)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP --

    def app(self) -> Starlette:
        return Starlette(routes=[*self.routes(), *self._control_routes()])

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def _control_routes(self) -> list[Route]:
        async def requests(_: Request) -> Response:
            return JSONResponse(
                [
                    {"method": r.method, "path": r.path, "headers": r.headers, "body": r.body}
                    for r in list(self.requests)
                ]
            )

        async def queue(request: Request) -> Response:
            self.answer(*[answer_from_json(a) for a in await request.json()])
            return JSONResponse({"queued": len(self._queue)})

        async def reset(_: Request) -> Response:
            self.reset()
            return JSONResponse({"ok": True})

        return [
            Route("/_fake/requests", requests, methods=["GET"]),
            Route("/_fake/answers", queue, methods=["POST"]),
            Route("/_fake/reset", reset, methods=["POST"]),
        ]

    async def _record(self, request: Request) -> RecordedRequest:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        return RecordedRequest(
            request.method,
            request.url.path,
            {k.lower(): v for k, v in request.headers.items()},
            body if isinstance(body, dict) else {"_json": body},
            time.time(),
        )

    async def _resolve(self, answer: Answer) -> Answer:
        while isinstance(answer, Slow):
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), answer.seconds)
            answer = answer.then
        return answer

    def _failure_response(self, failure: Failure) -> Response:
        headers = {}
        if failure.retry_after is not None:
            headers["retry-after"] = f"{failure.retry_after:g}"
        return JSONResponse(self.error_body(failure), failure.status, headers=headers)

    def error_body(self, failure: Failure) -> dict[str, Any]:
        raise NotImplementedError


# -- OpenAI-compatible -----------------------------------------------------------


class FakeOpenAI(FakeModelServer):
    """POST /v1/chat/completions (JSON and `stream: true` SSE), GET /v1/models."""

    kind = "openai"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
        ]

    def _authorised(self, request: RecordedRequest) -> bool:
        if self.api_key is None:
            return True
        return request.headers.get("authorization", "") == f"Bearer {self.api_key}"

    def error_body(self, failure: Failure) -> dict[str, Any]:
        types = {
            401: "invalid_request_error",
            429: "rate_limit_exceeded",
            400: "invalid_request_error",
        }
        kind = failure.error_type or types.get(failure.status, "server_error")
        code = "invalid_api_key" if failure.status == 401 else kind
        return {"error": {"message": failure.message, "type": kind, "param": None, "code": code}}

    async def list_models(self, request: Request) -> Response:
        recorded = await self._record(request)
        if not self._authorised(recorded):
            return self._failure_response(Failure.unauthorized("Incorrect API key provided."))
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def chat_completions(self, request: Request) -> Response:
        recorded = await self._record(request)
        if not self._authorised(recorded):
            with self._lock:  # recorded too: tests may assert what a wrong key sent
                self.requests.append(recorded)
                self._lock.notify_all()
            return self._failure_response(Failure.unauthorized("Incorrect API key provided."))
        answer = await self._resolve(await self._next_answer(recorded))
        if isinstance(answer, Failure):
            return self._failure_response(answer)
        assert not isinstance(answer, Slow)
        text, call, input_tokens, output_tokens = _shape(answer, recorded)
        completion_id = f"chatcmpl-{next(_ids)}"
        created = int(time.time())
        model = recorded.model or self.models[0]
        usage = {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }
        finish = "tool_calls" if call else "stop"
        if not recorded.stream:
            message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
            if call:
                message["tool_calls"] = [
                    {
                        "id": call[0],
                        "type": "function",
                        "function": {"name": call[1], "arguments": call[2]},
                    }
                ]
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                    ],
                    "usage": usage,
                }
            )
        include_usage = bool((recorded.body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            return f"data: {json.dumps(payload)}\n\n"

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            if text:
                for piece in _pieces(text):
                    yield chunk({"content": piece})
            if call:
                call_id, name, arguments = call
                yield chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    }
                )
                for piece in _pieces(arguments):
                    yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            yield chunk({}, finish)
            if include_usage:
                payload = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(payload)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


# -- Anthropic-compatible -------------------------------------------------------------


class FakeAnthropic(FakeModelServer):
    """POST /v1/messages (JSON and SSE streaming events), GET /v1/models; checks the key
    (x-api-key or Authorization: Bearer)."""

    kind = "anthropic"

    @property
    def base_url(self) -> str:
        return self.root_url  # the SDK appends /v1/messages itself

    def routes(self) -> list[Route]:
        return [
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
        ]

    def _authorised(self, request: RecordedRequest) -> bool:
        if self.api_key is None:
            return True
        # The classic header is x-api-key; current SDKs send the key as a bearer token.
        return self.api_key in (
            request.headers.get("x-api-key", ""),
            request.headers.get("authorization", "").removeprefix("Bearer "),
        )

    def error_body(self, failure: Failure) -> dict[str, Any]:
        types = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }
        kind = failure.error_type or types.get(failure.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": failure.message}}

    async def list_models(self, request: Request) -> Response:
        recorded = await self._record(request)
        if not self._authorised(recorded):
            return self._failure_response(Failure.unauthorized("invalid x-api-key"))
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"}
            for m in self.models
        ]
        return JSONResponse(
            {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
        )

    async def messages(self, request: Request) -> Response:
        recorded = await self._record(request)
        if not self._authorised(recorded):
            with self._lock:
                self.requests.append(recorded)
                self._lock.notify_all()
            return self._failure_response(Failure.unauthorized("invalid x-api-key"))
        answer = await self._resolve(await self._next_answer(recorded))
        if isinstance(answer, Failure):
            return self._failure_response(answer)
        assert not isinstance(answer, Slow)
        text, call, input_tokens, output_tokens = _shape(answer, recorded)
        message_id = f"msg_{next(_ids):06d}"
        model = recorded.model or self.models[0]
        stop_reason = "tool_use" if call else "end_turn"
        blocks: list[dict[str, Any]] = []
        if text:
            blocks.append({"type": "text", "text": text})
        if call:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call[0].replace("call_", "toolu_"),
                    "name": call[1],
                    "input": json.loads(call[2]),
                }
            )
        if not recorded.stream:
            return JSONResponse(
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": blocks,
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
                }
            )

        def event(kind: str, payload: dict[str, Any]) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n"

        async def events() -> AsyncIterator[str]:
            yield event(
                "message_start",
                {
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                    }
                },
            )
            yield event("ping", {})
            for index, block in enumerate(blocks):
                if block["type"] == "text":
                    yield event(
                        "content_block_start",
                        {"index": index, "content_block": {"type": "text", "text": ""}},
                    )
                    for piece in _pieces(block["text"]):
                        yield event(
                            "content_block_delta",
                            {"index": index, "delta": {"type": "text_delta", "text": piece}},
                        )
                else:
                    start = {
                        "type": "tool_use",
                        "id": block["id"],
                        "name": block["name"],
                        "input": {},
                    }
                    yield event("content_block_start", {"index": index, "content_block": start})
                    for piece in _pieces(json.dumps(block["input"])):
                        yield event(
                            "content_block_delta",
                            {
                                "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": piece},
                            },
                        )
                yield event("content_block_stop", {"index": index})
            yield event(
                "message_delta",
                {
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            )
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream")


def _shape(
    answer: Text | ToolCall | Structured, request: RecordedRequest
) -> tuple[str | None, tuple[str, str, str] | None, int, int]:
    """(text, (call id, tool name, JSON arguments) or None, input tokens, output tokens)."""
    text: str | None = None
    call: tuple[str, str, str] | None = None
    if isinstance(answer, Text):
        text = answer.text
    elif isinstance(answer, ToolCall):
        arguments = (
            answer.arguments if isinstance(answer.arguments, str) else json.dumps(answer.arguments)
        )
        call = (f"call_{next(_ids):06d}", answer.name, arguments)
    else:
        data = json.dumps(answer.as_json())
        tool = request.output_tool
        if tool is not None:
            call = (f"call_{next(_ids):06d}", tool, data)
        else:
            text = data
    input_tokens = answer.input_tokens
    if input_tokens is None:
        input_tokens = _estimate_tokens(request.body.get("messages", [])) + _estimate_tokens(
            request.body.get("system", "")
        )
    output_tokens = answer.output_tokens
    if output_tokens is None:
        output_tokens = _estimate_tokens(text or "") + (_estimate_tokens(call[2]) if call else 0)
    return text, call, input_tokens, output_tokens


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def unused_base_url() -> str:
    """A loopback URL nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@contextlib.contextmanager
def serving(
    kind: Literal["openai", "anthropic"], **options: Any
) -> Iterator[FakeOpenAI | FakeAnthropic]:
    fake: FakeOpenAI | FakeAnthropic = (
        FakeOpenAI(**options) if kind == "openai" else FakeAnthropic(**options)
    )
    with fake:
        yield fake


# -- answers as JSON (script files, the control endpoint) ------------------------------


def answer_from_json(value: Any) -> Answer:
    """One answer from JSON:

    {"text": "..."} | {"tool_call": {"name": "final_result", "arguments": {...}}}
    | {"structured": {...}} | {"error": 500, "message": "...", "retry_after": 2}
    | {"slow": 5, "then": <answer>}; a bare string is {"text": string}.
    "input_tokens" / "output_tokens" may accompany text, tool_call and structured."""
    if isinstance(value, str):
        return Text(value)
    if not isinstance(value, dict):
        raise ValueError(f"not an answer: {value!r}")
    tokens = {k: value[k] for k in ("input_tokens", "output_tokens") if k in value}
    if "text" in value:
        return Text(str(value["text"]), **tokens)
    if "tool_call" in value:
        call = value["tool_call"]
        return ToolCall(call["arguments"], name=call.get("name", "final_result"), **tokens)
    if "structured" in value:
        return Structured(value["structured"], **tokens)
    if "error" in value:
        return Failure(
            int(value["error"]),
            str(value.get("message", "error")),
            retry_after=value.get("retry_after"),
            error_type=str(value.get("type", "")),
        )
    if "slow" in value:
        return Slow(float(value["slow"]), answer_from_json(value.get("then", "late")))
    raise ValueError(f"not an answer: {value!r}")


@dataclass(frozen=True)
class Rule:
    """In a script file: answer requests whose system prompt / user text / offered tools
    match with these answers in turn (the last one repeats)."""

    answers: list[Answer]
    system_contains: str = ""
    user_contains: str = ""
    tool: str = ""
    used: list[int] = field(default_factory=lambda: [0])

    def matches(self, request: RecordedRequest) -> bool:
        return (
            self.system_contains in request.system
            and self.user_contains in request.user_text
            and (not self.tool or self.tool in request.tool_names)
        )

    def next(self) -> Answer:
        index = min(self.used[0], len(self.answers) - 1)
        self.used[0] += 1
        return self.answers[index]


def load_script(fake: FakeModelServer, spec: Any) -> None:
    """Apply a script file's content (see the module docstring) to a fake."""
    if isinstance(spec, list):
        spec = {"answers": spec}
    fake.answer(*[answer_from_json(a) for a in spec.get("answers", [])])
    if "default" in spec:
        fake.default = answer_from_json(spec["default"])
    rules = [
        Rule(
            [answer_from_json(a) for a in (r["answers"] if "answers" in r else [r["answer"]])],
            system_contains=r.get("system_contains", ""),
            user_contains=r.get("user_contains", ""),
            tool=r.get("tool", ""),
        )
        for r in spec.get("rules", [])
    ]
    if rules:
        default = fake.default

        def by_rule(request: RecordedRequest) -> Answer:
            for rule in rules:
                if rule.matches(request):
                    return rule.next()
            return default or Failure(500, "fake server: no rule matches this request")

        fake.respond_with(by_rule)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.ai.fakes")
    parser.add_argument("kind", choices=["openai", "anthropic"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", help="JSON file: a list of answers, or answers/rules/default")
    parser.add_argument("--api-key", default=None, help="the only key accepted (default: any)")
    args = parser.parse_args(argv)
    fake: FakeModelServer = (
        FakeOpenAI(api_key=args.api_key)
        if args.kind == "openai"
        else FakeAnthropic(api_key=args.api_key)
    )
    if args.script:
        with open(args.script, encoding="utf-8") as handle:
            load_script(fake, json.load(handle))
    fake.start(args.port)
    print(json.dumps({"base_url": fake.base_url, "port": fake.port}), flush=True)
    stop = threading.Event()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
