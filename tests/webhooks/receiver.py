"""A webhook receiver on loopback: answers with scripted statuses, records every request."""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    script: deque[int] = field(default_factory=deque)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def answer(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, then 200."""
        self.script.extend(statuses)

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until `count` requests have arrived (bounded by `timeout`)."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.requests) >= count), timeout
            )
        return list(self.requests)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        status = self.script.popleft() if self.script else 200
        async with self._arrived:
            self.requests.append(
                Received(request.url.path, {k.lower(): v for k, v in request.headers.items()}, body)
            )
            self._arrived.notify_all()
        return PlainTextResponse("ok" if status < 300 else "nope", status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.hook, methods=["POST"])])


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    """Serve a receiver on a free 127.0.0.1 port in this event loop. The socket
    listens before the server starts, so clients may connect at once."""
    receiver = Receiver()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    receiver.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(receiver.app(), log_config=None, access_log=False, lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield receiver
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()
