"""An ASGI app served by uvicorn in a thread of its own on a free loopback port, for tests
that need real HTTP or WebSocket connections (and a server a blocked test loop can't stall)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn


@contextmanager
def serving(
    app: Any, *, lifespan: Literal["auto", "on", "off"] = "auto", stop_timeout: float = 15.0
) -> Iterator[str]:
    """Serve `app` for the duration of the block; yields its base URL (`http://127.0.0.1:<port>`).

    The socket is bound and listening before the server thread starts, so clients may
    connect at once: the kernel queues them until uvicorn accepts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan=lifespan)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=stop_timeout)
        sock.close()
