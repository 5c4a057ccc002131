"""A small asyncio SMTP client for bulk sending: pipelining, STARTTLS or TLS, AUTH.

Why our own rather than aiosmtplib: see docs/adr/0005-smtp-client.md. It speaks only
what a submission client needs (EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA,
RSET, QUIT), and maps every way a transaction can end onto one `SendResult`, keeping
apart what may be retried (the server cannot have accepted the message) from what
may not (the final dot went out and no reply came back)."""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from maily.config import SMTPSecurity
from maily.delivery.transports.base import Outcome, OutgoingMessage, SendResult

__all__ = [
    "Reply",
    "SMTPConnectError",
    "SMTPConnection",
    "SMTPConnectionLost",
    "SMTPError",
    "SMTPServer",
    "classify_failure",
]

# A reply longer than this without a line end is not SMTP; stop reading it.
_MAX_PENDING = 64 * 1024
_QUEUED_AS = re.compile(rb"queued as ([A-Za-z0-9._\-<>@]+)")
_ENHANCED = re.compile(rb"^([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True, slots=True)
class SMTPServer:
    """Where and how to connect: one relay, as a transport's pool sees it."""

    host: str
    port: int
    security: SMTPSecurity = SMTPSecurity.starttls
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ehlo_name: str = "localhost"
    # None: the system's trust store with hostname checking.
    ssl_context: ssl.SSLContext | None = None
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    data_timeout: float = 120.0

    def __post_init__(self) -> None:
        # Built once: loading the trust store costs milliseconds per connection.
        if self.ssl_context is None and self.security is not SMTPSecurity.none:
            object.__setattr__(self, "ssl_context", ssl.create_default_context())

    @property
    def tls_context(self) -> ssl.SSLContext:
        assert self.ssl_context is not None, "TLS needs an ssl_context"
        return self.ssl_context


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    lines: tuple[bytes, ...]

    @property
    def text(self) -> str:
        """The reply as the ledger records it: code and every line's words."""
        words = " ".join(line[4:].decode("utf-8", "replace").strip() for line in self.lines)
        return f"{self.code} {words}".rstrip()

    @property
    def enhanced(self) -> tuple[int, int, int] | None:
        """The RFC 3463 status code (5.1.1) the first line starts with, if any."""
        match = _ENHANCED.match(self.lines[0][4:]) if self.lines else None
        if match is None:
            return None
        return int(match[1]), int(match[2]), int(match[3])


class SMTPError(Exception):
    """Something went wrong talking to the server; `reply` when it said so itself."""

    def __init__(self, message: str, reply: Reply | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class SMTPConnectError(SMTPError):
    """No usable session: refused, TLS or AUTH failed, or a bad greeting or EHLO."""


class SMTPConnectionLost(SMTPError):
    """The connection closed (or spoke something that is not SMTP) mid-conversation."""


Stage = Literal["mail", "rcpt", "data", "body"]


def classify_failure(reply: Reply, stage: Stage) -> SendResult:
    """What a 4xx/5xx reply at `stage` means for the message.

    4xx anywhere: deferred. 5xx: the RFC 3463 subject says whom it is about. Address
    problems (x.1.x addressing, x.2.x mailbox, x.4.x routing) are bounces, so the
    address gets suppressed; everything else (x.3 system, x.5 protocol, x.6 content,
    x.7 policy such as "relay access denied" or a spam verdict) is `failed`, because
    it says nothing about the recipient and suppressing on it would wipe a list after
    one relay misconfiguration. Without an enhanced code: a 5xx on RCPT is a bounce
    (550 user unknown); on MAIL FROM it is about our sender, and on DATA or the body
    about the content, so `failed`."""
    code = reply.code
    detail = reply.text
    if 400 <= code < 500:
        return SendResult(Outcome.deferred, code=code, detail=detail)
    if not 500 <= code < 600:
        return SendResult(Outcome.deferred, code=code, detail=f"unexpected reply: {detail}")
    enhanced = reply.enhanced
    if stage == "mail":
        return SendResult(Outcome.failed, code=code, detail=detail)
    if enhanced is not None and enhanced[0] == 5:
        about_address = enhanced[1] in (1, 2, 4)
        return SendResult(
            Outcome.bounced if about_address else Outcome.failed, code=code, detail=detail
        )
    outcome = Outcome.bounced if stage == "rcpt" else Outcome.failed
    return SendResult(outcome, code=code, detail=detail)


class _SMTPProtocol(asyncio.Protocol):
    """Splits the byte stream into replies and tracks whether writes have drained."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._pending = b""
        self._lines: list[bytes] = []
        self.replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.closed = False

    def attach(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # Pause as soon as anything is left unsent: the protocol then knows exactly
        # when the last byte (the final dot) has been handed to the kernel.
        transport.set_write_buffer_limits(high=0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.attach(transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._pending + data if self._pending else data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = buffer[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            self._lines.append(line)
            if line[3:4] != b"-":
                head = line[:3]
                code = int(head) if len(head) == 3 and head.isdigit() else 0
                if code == 0:
                    self._abort()
                    return
                self.replies.append(Reply(code, tuple(self._lines)))
                self._lines = []
        self._pending = buffer[start:]
        if len(self._pending) > _MAX_PENDING:
            self._abort()
            return
        self._wake()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _abort(self) -> None:
        # Not SMTP: what was read so far can't be trusted either.
        self.replies.clear()
        if self.transport is not None:
            self.transport.abort()
        self.closed = True
        self._wake()

    async def read_reply(self) -> Reply:
        while not self.replies:
            if self.closed:
                raise SMTPConnectionLost("connection closed by the server")
            self._waiter = self._loop.create_future()
            await self._waiter
        return self.replies.popleft()

    async def drained(self) -> None:
        while self.paused:
            if self.closed:
                raise SMTPConnectionLost("connection closed while sending")
            self._drain_waiter = self._loop.create_future()
            await self._drain_waiter
        if self.closed:
            raise SMTPConnectionLost("connection closed while sending")


def _deferred(detail: str, code: int | None = None) -> SendResult:
    return SendResult(Outcome.deferred, code=code, detail=detail)


def _ok(reply: Reply) -> bool:
    return 200 <= reply.code < 400


def _parse_extensions(reply: Reply) -> dict[str, str]:
    extensions: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line[4:].decode("ascii", "replace").strip().partition(" ")
        # Old servers write "AUTH=LOGIN PLAIN".
        if keyword.upper().startswith("AUTH="):
            keyword, params = "AUTH", keyword[5:] + " " + params
        extensions[keyword.upper()] = params.strip()
    return extensions


class SMTPConnection:
    """One open SMTP session; sends one message at a time (`send` is not re-entrant)."""

    def __init__(self, server: SMTPServer, protocol: _SMTPProtocol) -> None:
        self.server = server
        self._protocol = protocol
        self.extensions: dict[str, str] = {}
        self.pipelining = False
        self.messages_sent = 0
        self.last_used = time.monotonic()
        self._needs_rset = False
        self._size_limit = 0
        # The last transaction found the session already closed by the server before
        # any reply: the envelope never reached a live session, so retrying is safe.
        self.closed_unanswered = False
        # The message whose envelope went out right behind the last final dot; its
        # replies follow the dot's (RFC 2920 §3.1), and `send` of it reads them.
        self._written_ahead: OutgoingMessage | None = None

    @classmethod
    async def open(cls, server: SMTPServer) -> SMTPConnection:
        """Connect, read the greeting, EHLO, STARTTLS when asked, AUTH when configured."""
        loop = asyncio.get_running_loop()
        implicit_tls = server.security is SMTPSecurity.tls
        connection: SMTPConnection | None = None
        try:
            async with asyncio.timeout(server.connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: _SMTPProtocol(loop),
                    server.host,
                    server.port,
                    ssl=server.tls_context if implicit_tls else None,
                    server_hostname=server.host if implicit_tls else None,
                )
                connection = cls(server, protocol)
                greeting = await protocol.read_reply()
        except TimeoutError as exc:
            if connection is not None:
                connection.abort()
            raise SMTPConnectError(f"connecting to {server.host}:{server.port} timed out") from exc
        except (OSError, SMTPConnectionLost) as exc:
            if connection is not None:
                connection.abort()
            raise SMTPConnectError(f"connecting to {server.host}:{server.port}: {exc}") from exc
        try:
            if greeting.code != 220:
                raise SMTPConnectError(f"greeting refused: {greeting.text}", greeting)
            async with asyncio.timeout(server.command_timeout):
                await connection._handshake()
        except TimeoutError as exc:
            connection.abort()
            raise SMTPConnectError("the server stopped answering during the handshake") from exc
        except (OSError, SMTPError) as exc:
            connection.abort()
            if isinstance(exc, SMTPConnectError):
                raise
            raise SMTPConnectError(f"handshake failed: {exc}") from exc
        return connection

    async def _command(self, line: bytes) -> Reply:
        transport = self._protocol.transport
        assert transport is not None
        transport.write(line + b"\r\n")
        return await self._protocol.read_reply()

    async def _ehlo(self) -> None:
        reply = await self._command(b"EHLO " + self.server.ehlo_name.encode("idna"))
        if reply.code != 250:
            raise SMTPConnectError(f"EHLO refused: {reply.text}", reply)
        self.extensions = _parse_extensions(reply)
        self.pipelining = "PIPELINING" in self.extensions
        size = self.extensions.get("SIZE", "")
        self._size_limit = int(size) if size.isdigit() else 0

    async def _handshake(self) -> None:
        await self._ehlo()
        if self.server.security is SMTPSecurity.starttls:
            if "STARTTLS" not in self.extensions:
                raise SMTPConnectError("the server does not offer STARTTLS")
            reply = await self._command(b"STARTTLS")
            if reply.code != 220:
                raise SMTPConnectError(f"STARTTLS refused: {reply.text}", reply)
            await self._start_tls()
            await self._ehlo()
        if self.server.username is not None and self.server.password is not None:
            await self._authenticate(self.server.username, self.server.password)

    async def _start_tls(self) -> None:
        protocol = self._protocol
        assert protocol.transport is not None
        loop = asyncio.get_running_loop()
        tls_transport = await loop.start_tls(
            protocol.transport,
            protocol,
            self.server.tls_context,
            server_hostname=self.server.host,
            ssl_handshake_timeout=self.server.connect_timeout,
        )
        if tls_transport is None:
            raise SMTPConnectionLost("connection closed during the TLS handshake")
        protocol.attach(tls_transport)

    async def _authenticate(self, username: str, password: str) -> None:
        mechanisms = set(self.extensions.get("AUTH", "").upper().split())
        user, secret = username.encode(), password.encode()
        if "PLAIN" in mechanisms:
            token = base64.b64encode(b"\0" + user + b"\0" + secret)
            reply = await self._command(b"AUTH PLAIN " + token)
        elif "LOGIN" in mechanisms:
            reply = await self._command(b"AUTH LOGIN")
            if reply.code == 334:
                reply = await self._command(base64.b64encode(user))
            if reply.code == 334:
                reply = await self._command(base64.b64encode(secret))
        else:
            raise SMTPConnectError("the server offers neither AUTH PLAIN nor AUTH LOGIN")
        if reply.code != 235:
            raise SMTPConnectError(f"authentication failed: {reply.text}", reply)

    @property
    def closed(self) -> bool:
        return self._protocol.closed

    @property
    def idle(self) -> bool:
        """No transaction is under way: no envelope waits for its replies."""
        return self._written_ahead is None

    def usable(self, idle_timeout: float) -> bool:
        """Open, idle for less than `idle_timeout`, with no unsolicited reply waiting
        (a 421 "idle too long" a server sent before closing)."""
        return (
            not self._protocol.closed
            and self._written_ahead is None
            and not self._protocol.replies
            and time.monotonic() - self.last_used < idle_timeout
        )

    def abort(self) -> None:
        transport = self._protocol.transport
        if transport is not None:
            transport.abort()
        self._protocol.closed = True

    def quit(self) -> None:
        """Say goodbye and close, without waiting for the 221: nothing depends on it."""
        transport = self._protocol.transport
        if transport is not None and not self._protocol.closed:
            transport.write(b"QUIT\r\n")
            transport.close()
        self._protocol.closed = True

    async def aclose(self) -> None:
        """QUIT and wait (briefly) for the server's goodbye, then close."""
        protocol = self._protocol
        transport = protocol.transport
        if transport is None or protocol.closed:
            return
        transport.write(b"QUIT\r\n")
        try:
            async with asyncio.timeout(min(self.server.command_timeout, 5.0)):
                await protocol.read_reply()
        except (TimeoutError, SMTPConnectionLost):
            pass
        transport.close()
        protocol.closed = True

    def _envelope(self, message: OutgoingMessage) -> tuple[bytes, bytes] | SendResult:
        sender, recipient = message.envelope_from, message.recipient
        params = b""
        if not message.data.isascii():
            if "8BITMIME" not in self.extensions:
                return SendResult(
                    Outcome.failed, detail="8-bit message but the server lacks 8BITMIME"
                )
            params = b" BODY=8BITMIME"
        if not (sender.isascii() and recipient.isascii()):
            if "SMTPUTF8" not in self.extensions:
                return SendResult(
                    Outcome.failed, detail="non-ASCII address but the server lacks SMTPUTF8"
                )
            params += b" SMTPUTF8"
        for address in (sender, recipient):
            if "\r" in address or "\n" in address or "<" in address or ">" in address:
                return SendResult(Outcome.failed, detail=f"invalid envelope address {address!r}")
        if self._size_limit and len(message.data) > self._size_limit:
            return SendResult(
                Outcome.failed,
                code=552,
                detail=f"message of {len(message.data)} bytes exceeds the server's SIZE {self._size_limit}",
            )
        mail = b"MAIL FROM:<" + sender.encode() + b">" + params + b"\r\n"
        rcpt = b"RCPT TO:<" + recipient.encode() + b">\r\n"
        return mail, rcpt

    async def send(
        self, message: OutgoingMessage, following: OutgoingMessage | None = None
    ) -> SendResult:
        """Run one transaction. Never raises for the message's fate; when the session
        is no longer usable afterwards, `closed` is true.

        `following`, the message the caller will send next over this session: with
        PIPELINING its envelope goes out in the same write as this message's final
        dot, so each message costs one round trip instead of two. Nothing of its
        content leaves before its own DATA is answered with 354, so a session lost
        in between leaves it safe to send again."""
        ahead = self._written_ahead
        self._written_ahead = None
        protocol = self._protocol
        if ahead is not None and ahead is not message:
            # Replies for another transaction are on their way: the session is of no
            # use for this one.
            self.abort()
        envelope = self._envelope(message)
        if isinstance(envelope, SendResult):
            return envelope
        mail, rcpt = envelope
        transport = protocol.transport
        assert transport is not None
        if protocol.closed:
            self.closed_unanswered = True
            return _deferred("connection closed before MAIL")
        self.last_used = time.monotonic()
        rset = b"RSET\r\n" if self._needs_rset else b""
        self._needs_rset = False
        # Replies to MAIL, RCPT and DATA, in order, as far as they came.
        replies: list[Reply] = []
        try:
            async with asyncio.timeout(self.server.command_timeout):
                if ahead is not None:
                    # MAIL, RCPT and DATA went out behind the last message's final dot.
                    replies.append(await protocol.read_reply())
                    replies.append(await protocol.read_reply())
                    replies.append(await protocol.read_reply())
                elif self.pipelining:
                    # RFC 2920: the whole envelope in one write, replies read in order.
                    transport.write(rset + mail + rcpt + b"DATA\r\n")
                    if rset and not _ok(await protocol.read_reply()):
                        self.abort()
                        return _deferred("RSET refused")
                    replies.append(await protocol.read_reply())
                    replies.append(await protocol.read_reply())
                    replies.append(await protocol.read_reply())
                else:
                    if rset:
                        transport.write(rset)
                        if not _ok(await protocol.read_reply()):
                            self.abort()
                            return _deferred("RSET refused")
                    for command in (mail, rcpt, b"DATA\r\n"):
                        transport.write(command)
                        replies.append(await protocol.read_reply())
                        if not _ok(replies[-1]):
                            break
        except (TimeoutError, SMTPConnectionLost) as exc:
            self.abort()
            self.closed_unanswered = not replies and isinstance(exc, SMTPConnectionLost)
            # A refusal that came before the silence (a 421, then the close) says more.
            stages: tuple[Stage, ...] = ("mail", "rcpt")
            for reply, stage in zip(replies, stages, strict=False):
                if not _ok(reply):
                    return classify_failure(reply, stage)
            if isinstance(exc, TimeoutError):
                return _deferred("the server stopped answering before DATA")
            return _deferred("connection lost before DATA")

        mail_reply = replies[0]
        last = replies[-1]
        if not _ok(mail_reply):
            return self._refused(mail_reply, "mail", last)
        self._needs_rset = True
        rcpt_reply = replies[1]
        if not _ok(rcpt_reply):
            return self._refused(rcpt_reply, "rcpt", last)
        data_reply = replies[2]
        if data_reply.code != 354:
            return self._refused(data_reply, "data", last)
        self._needs_rset = False
        return await self._send_body(message.data, following)

    def _refused(self, reply: Reply, stage: Stage, data_reply: Reply) -> SendResult:
        result = classify_failure(reply, stage)
        # 421: the server is closing this session. A 354 after a refused envelope
        # (a server ignoring RFC 2920) wants a body we must not send; drop it too.
        if reply.code == 421 or data_reply.code == 421 or data_reply.code == 354:
            self.abort()
        return result

    async def _send_body(self, data: bytes, following: OutgoingMessage | None) -> SendResult:
        protocol = self._protocol
        transport = protocol.transport
        assert transport is not None
        # Dot-stuffing (RFC 5321 4.5.2); `data` already has CRLF line ends.
        body = data.replace(b"\r\n.", b"\r\n..") if b"\r\n." in data else data
        if body.startswith(b"."):
            body = b"." + body
        end = b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"
        if protocol.closed:
            return _deferred("connection lost before the message was sent")
        ahead = b""
        if following is not None and self.pipelining:
            envelope = self._envelope(following)
            if not isinstance(envelope, SendResult):
                # RFC 2920 §3.1: message content may open a group of commands.
                ahead = envelope[0] + envelope[1] + b"DATA\r\n"
                self._written_ahead = following
        transport.write(b"".join((body, end, ahead)))
        if transport.is_closing():
            # The write failed outright: not a byte of it left this host.
            self.abort()
            return _deferred("connection lost while sending the message")
        handed_over = False
        try:
            async with asyncio.timeout(self.server.data_timeout):
                if protocol.paused:
                    await protocol.drained()
                # From here the final dot is with the kernel: the server may have it.
                # (Over TLS the count stops at the TLS layer, so a drop while the
                # socket still holds the end reads as unknown: cautious, never a
                # duplicate.)
                handed_over = True
                reply = await protocol.read_reply()
        except (TimeoutError, SMTPConnectionLost):
            self.abort()
            if handed_over:
                return SendResult(
                    Outcome.unknown, detail="no reply after the final dot; the server may have it"
                )
            return _deferred("connection lost before the whole message was sent")
        self.messages_sent += 1
        if 200 <= reply.code < 300:
            queued = _QUEUED_AS.search(reply.lines[-1])
            return SendResult(
                Outcome.sent,
                code=reply.code,
                detail=reply.text,
                provider_message_id=queued[1].decode() if queued else None,
            )
        if reply.code == 421:
            self.abort()
        if 400 <= reply.code < 600:
            return classify_failure(reply, "body")
        self.abort()
        return SendResult(
            Outcome.unknown, code=reply.code, detail=f"unexpected reply: {reply.text}"
        )
