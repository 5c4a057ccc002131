"""A local HTTPS server standing in for SNS: serves the signing certificate and records
subscription confirmations (GET SubscribeURL)."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from types import TracebackType


@dataclass
class FakeSNS:
    certificate_pem: bytes
    tls: ssl.SSLContext
    requests: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def cert_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/SimpleNotificationService-0123456789abcdef.pem"

    def subscribe_url(self, token: str) -> str:
        return f"https://127.0.0.1:{self.port}/?Action=ConfirmSubscription&Token={token}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            self.requests.append(path)
            if path.endswith(".pem"):
                status, body = b"200 OK", self.certificate_pem
            elif "Action=ConfirmSubscription" in path:
                status, body = b"200 OK", b"<ConfirmSubscriptionResponse/>"
            else:
                status, body = b"404 Not Found", b""
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> FakeSNS:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
