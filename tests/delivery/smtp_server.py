"""A real SMTP server on a loopback port for tests: records what it accepts, injects faults.

    async with SMTPTestServer(pipelining=True) as server:
        server.inject("rcpt", Reply(550, "5.1.1 no such user"), match="gone@example.com")
        server.inject("body", Drop(), match="maybe@example.com", times=1)
        transport = SMTPTransport(SMTPServer("127.0.0.1", server.port, SMTPSecurity.none))
        ...
        assert [m.recipients for m in server.messages] == ...

Stages a fault can hit, and what `match` is compared with:
  connect (no address)  ehlo (no address)  mail (MAIL FROM)  rcpt (RCPT TO)
  data (any recipient of the transaction; the DATA command)
  body (any recipient; after the whole message was read, before the reply)
Actions: Reply(code, text) answers instead; Drop() closes without answering; Hang()
never answers (the client's timeout fires); Stall() (data only) answers 354 and then
stops reading, so the client cannot finish writing the body. A message read in full
but then dropped or left hanging is kept in `unacknowledged`, not in `messages`.

`Session.pipelined_reads` counts reads that carried more than one command: a client
that waits for each reply can never cause one, so it proves pipelining was used.
`Session.envelopes_behind_dot` counts MAIL commands that arrived in the same read as
the previous message's final dot (a client saving a round trip per message)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

Stage = Literal["connect", "ehlo", "mail", "rcpt", "data", "body"]


@dataclass(frozen=True)
class Reply:
    code: int
    text: str = ""


@dataclass(frozen=True)
class Drop:
    pass


@dataclass(frozen=True)
class Hang:
    pass


@dataclass(frozen=True)
class Stall:
    pass


Action = Reply | Drop | Hang | Stall


@dataclass
class Fault:
    stage: Stage
    action: Action
    match: str | None = None
    # How many times it fires; None: every time.
    times: int | None = None
    fired: int = 0


@dataclass(frozen=True)
class ReceivedMessage:
    envelope_from: str
    recipients: tuple[str, ...]
    # As the client meant it: dot-stuffing undone, final dot removed.
    data: bytes
    mail_params: tuple[str, ...]
    session: int
    tls: bool
    user: str | None


@dataclass
class Session:
    id: int
    commands: list[str] = field(default_factory=list)
    pipelined_reads: int = 0
    envelopes_behind_dot: int = 0
    tls: bool = False
    user: str | None = None
    closed: bool = False


class SMTPTestServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        pipelining: bool = True,
        eightbitmime: bool = True,
        smtputf8: bool = False,
        size: int | None = None,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        users: dict[str, str] | None = None,
        auth_mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN"),
        require_auth: bool = False,
        hostname: str = "smtp.test",
        port: int = 0,
        on_message: Callable[[ReceivedMessage], None] | None = None,
        keep_messages: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.on_message = on_message
        # False: accepted messages only go to `on_message` (a long-running sink would
        # otherwise hold every message it ever accepted); `accepted` still counts them.
        self.keep_messages = keep_messages
        self.accepted = 0
        self.pipelining = pipelining
        self.eightbitmime = eightbitmime
        self.smtputf8 = smtputf8
        self.size = size
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.users = users or {}
        self.auth_mechanisms = auth_mechanisms
        self.require_auth = require_auth
        self.hostname = hostname
        self.faults: list[Fault] = []
        self.messages: list[ReceivedMessage] = []
        self.unacknowledged: list[ReceivedMessage] = []
        self.sessions: list[Session] = []
        self._server: asyncio.Server | None = None
        self._protocols: set[_ServerProtocol] = set()
        self._changed = asyncio.Event()

    def inject(
        self, stage: Stage, action: Action, match: str | None = None, times: int | None = None
    ) -> Fault:
        fault = Fault(stage, action, match, times)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def _fault(self, stage: Stage, addresses: tuple[str, ...] = ()) -> Action | None:
        for fault in self.faults:
            if fault.stage != stage or (fault.times is not None and fault.fired >= fault.times):
                continue
            if fault.match is None or fault.match in addresses:
                fault.fired += 1
                return fault.action
        return None

    @property
    def recipients(self) -> list[str]:
        """Every recipient of every accepted message, in order of acceptance."""
        return [rcpt for message in self.messages for rcpt in message.recipients]

    @property
    def pipelined_reads(self) -> int:
        return sum(session.pipelined_reads for session in self.sessions)

    async def wait_for_messages(self, count: int, timeout: float = 10.0) -> None:
        """Until at least `count` messages were accepted (for end-to-end tests)."""
        await self.wait_until(lambda: len(self.messages) >= count, timeout)

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Until `condition()` holds; it is checked after every command and message."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def _record(self, message: ReceivedMessage, acknowledged: bool) -> None:
        if acknowledged:
            self.accepted += 1
            if self.keep_messages:
                self.messages.append(message)
            if self.on_message is not None:
                self.on_message(message)
        else:
            self.unacknowledged.append(message)
        self._changed.set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ServerProtocol(self), self.host, self.port, ssl=self.implicit_tls
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every open session; a later `start` reuses the port."""
        if self._server is not None:
            self._server.close()
            for protocol in list(self._protocols):
                protocol.abort()
            await self._server.wait_closed()
            self._server = None

    def drop_all(self) -> None:
        """Cut every open session (as a server restart would) but keep listening."""
        for protocol in list(self._protocols):
            protocol.abort()

    async def __aenter__(self) -> SMTPTestServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _address(argument: str) -> tuple[str, tuple[str, ...]]:
    # "FROM:<a@b> BODY=8BITMIME" -> ("a@b", ("BODY=8BITMIME",))
    _, _, rest = argument.partition(":")
    rest = rest.strip()
    if rest.startswith("<"):
        address, _, params = rest[1:].partition(">")
    else:
        address, _, params = rest.partition(" ")
    return address, tuple(params.split())


class _ServerProtocol(asyncio.Protocol):
    def __init__(self, server: SMTPTestServer) -> None:
        self.server = server
        self.session = Session(len(server.sessions) + 1, tls=server.implicit_tls is not None)
        server.sessions.append(self.session)
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.state = "command"
        self.scan_from = 0
        self.greeted = False
        self._reset()

    def _reset(self) -> None:
        self.envelope_from: str | None = None
        self.mail_params: tuple[str, ...] = ()
        self.recipients: list[str] = []

    # --- plumbing

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._protocols.add(self)
        if self._act(self.server._fault("connect")):
            return
        self.reply(220, f"{self.server.hostname} ESMTP test server")

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.closed = True
        self.server._protocols.discard(self)

    def reply(self, code: int, *lines: str) -> None:
        assert self.transport is not None
        texts = lines or ("",)
        out = [f"{code}-{text}" for text in texts[:-1]] + [f"{code} {texts[-1]}".rstrip()]
        self.transport.write(("\r\n".join(out) + "\r\n").encode())

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _act(self, action: Action | None) -> bool:
        """Carry out an injected action; True when it replaced the normal answer."""
        if action is None:
            return False
        assert self.transport is not None
        if isinstance(action, Reply):
            self.reply(action.code, action.text)
            if action.code == 421:
                self.transport.close()
                self.state = "hung"
        elif isinstance(action, Drop):
            self.transport.close()
            self.state = "hung"
        elif isinstance(action, Hang):
            self.state = "hung"
        else:
            self.reply(354, "go ahead")
            self.transport.pause_reading()
            self.state = "hung"
        return True

    def data_received(self, data: bytes) -> None:
        if self.state == "hung":
            return
        self.buffer += data
        commands = 0
        after_dot = False
        while self.state not in ("hung", "tls"):
            if self.state == "data":
                if not self._take_body():
                    return
                after_dot = True
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            commands += 1
            if commands == 2:
                self.session.pipelined_reads += 1
            if after_dot and line[:5].upper() == b"MAIL ":
                self.session.envelopes_behind_dot += 1
            after_dot = False
            self._command(line)

    def _take_body(self) -> bool:
        if self.buffer.startswith(b".\r\n"):
            raw, consumed = b"", 3
        else:
            end = self.buffer.find(b"\r\n.\r\n", self.scan_from)
            if end < 0:
                self.scan_from = max(0, len(self.buffer) - 4)
                return False
            raw, consumed = bytes(self.buffer[: end + 2]), end + 5
        del self.buffer[:consumed]
        self.scan_from = 0
        self.state = "command"
        data = raw.replace(b"\r\n..", b"\r\n.")
        if data.startswith(b".."):
            data = data[1:]
        self._message(data)
        return True

    # --- the conversation

    def _command(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        if self.state == "auth-plain":
            self.state = "command"
            self._auth_plain(text)
            return
        if self.state == "auth-user":
            self.login_user = base64.b64decode(text).decode()
            self.state = "auth-pass"
            self.reply(334, "UGFzc3dvcmQ6")
            return
        if self.state == "auth-pass":
            self.state = "command"
            self._login(self.login_user, base64.b64decode(text).decode())
            return
        verb, _, argument = text.partition(" ")
        verb = verb.upper()
        self.session.commands.append(verb)
        self.server._changed.set()
        handler = getattr(self, f"_do_{verb.lower()}", None)
        if handler is None:
            self.reply(502, "5.5.2 command not recognised")
        else:
            handler(argument)

    def _do_ehlo(self, argument: str) -> None:
        if self._act(self.server._fault("ehlo")):
            return
        self._reset()
        self.greeted = True
        server = self.server
        lines = [server.hostname]
        if server.pipelining:
            lines.append("PIPELINING")
        if server.eightbitmime:
            lines.append("8BITMIME")
        if server.smtputf8:
            lines.append("SMTPUTF8")
        if server.size is not None:
            lines.append(f"SIZE {server.size}")
        if server.starttls is not None and not self.session.tls:
            lines.append("STARTTLS")
        if server.users and server.auth_mechanisms:
            lines.append("AUTH " + " ".join(server.auth_mechanisms))
        lines.append("ENHANCEDSTATUSCODES")
        self.reply(250, *lines)

    def _do_helo(self, argument: str) -> None:
        self._reset()
        self.greeted = True
        self.reply(250, self.server.hostname)

    def _do_starttls(self, argument: str) -> None:
        context = self.server.starttls
        if context is None or self.session.tls:
            self.reply(502, "5.5.1 STARTTLS not available")
            return
        assert self.transport is not None
        self.reply(220, "2.0.0 ready to start TLS")
        self.transport.pause_reading()
        self.state = "tls"
        self.buffer.clear()
        asyncio.get_running_loop().create_task(self._upgrade(context))

    async def _upgrade(self, context: ssl.SSLContext) -> None:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(self.transport, self, context, server_side=True)
        except (OSError, ssl.SSLError):
            self.abort()
            return
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.session.tls = True
        self.greeted = False
        self._reset()
        self.state = "command"
        # The client may have spoken before our side of the handshake finished.
        self.data_received(b"")

    def _do_auth(self, argument: str) -> None:
        mechanism, _, initial = argument.partition(" ")
        mechanism = mechanism.upper()
        if not self.server.users or mechanism not in self.server.auth_mechanisms:
            self.reply(504, "5.5.4 mechanism not available")
        elif mechanism == "PLAIN":
            if initial:
                self._auth_plain(initial)
            else:
                self.state = "auth-plain"
                self.reply(334, "")
        else:
            self.state = "auth-user"
            self.reply(334, "VXNlcm5hbWU6")

    def _auth_plain(self, token: str) -> None:
        try:
            _, user, password = base64.b64decode(token).decode().split("\0")
        except ValueError:
            self.reply(501, "5.5.2 cannot decode")
            return
        self._login(user, password)

    def _login(self, user: str, password: str) -> None:
        if self.server.users.get(user) == password:
            self.session.user = user
            self.reply(235, "2.7.0 authenticated")
        else:
            self.reply(535, "5.7.8 authentication credentials invalid")

    def _do_mail(self, argument: str) -> None:
        if not self.greeted:
            self.reply(503, "5.5.1 EHLO first")
            return
        if self.server.require_auth and self.session.user is None:
            self.reply(530, "5.7.0 authentication required")
            return
        if self.envelope_from is not None:
            self.reply(503, "5.5.1 nested MAIL command")
            return
        address, params = _address(argument)
        if self._act(self.server._fault("mail", (address,))):
            return
        self.envelope_from, self.mail_params = address, params
        self.reply(250, "2.1.0 ok")

    def _do_rcpt(self, argument: str) -> None:
        if self.envelope_from is None:
            self.reply(503, "5.5.1 need MAIL first")
            return
        address, _ = _address(argument)
        if self._act(self.server._fault("rcpt", (address,))):
            return
        self.recipients.append(address)
        self.reply(250, "2.1.5 ok")

    def _do_data(self, argument: str) -> None:
        if self.envelope_from is None:
            self.reply(503, "5.5.1 need MAIL first")
            return
        if not self.recipients:
            self.reply(554, "5.5.1 no valid recipients")
            return
        if self._act(self.server._fault("data", tuple(self.recipients))):
            return
        self.state = "data"
        self.reply(354, "end data with <CR><LF>.<CR><LF>")

    def _message(self, data: bytes) -> None:
        assert self.envelope_from is not None
        message = ReceivedMessage(
            envelope_from=self.envelope_from,
            recipients=tuple(self.recipients),
            data=data,
            mail_params=self.mail_params,
            session=self.session.id,
            tls=self.session.tls,
            user=self.session.user,
        )
        self._reset()
        action = self.server._fault("body", message.recipients)
        if isinstance(action, Drop | Hang):
            self.server._record(message, acknowledged=False)
            self._act(action)
            return
        if self._act(action):
            return
        if self.server.size is not None and len(data) > self.server.size:
            self.reply(552, "5.3.4 message too big")
            return
        self.server._record(message, acknowledged=True)
        self.reply(250, f"2.0.0 Ok: queued as {secrets.token_hex(6).upper()}")

    def _do_rset(self, argument: str) -> None:
        self._reset()
        self.reply(250, "2.0.0 ok")

    def _do_noop(self, argument: str) -> None:
        self.reply(250, "2.0.0 ok")

    def _do_quit(self, argument: str) -> None:
        assert self.transport is not None
        self.reply(221, "2.0.0 bye")
        self.transport.close()
        self.state = "hung"


# --- as its own process, for tests that kill or restart the code under test


def _message_id(data: bytes) -> str | None:
    headers = data.split(b"\r\n\r\n", 1)[0]
    for line in headers.split(b"\r\n"):
        if line[:11].lower() == b"message-id:":
            return line[11:].strip().decode("ascii", "replace")
    return None


async def _serve(port: int, log: Path) -> None:
    with log.open("a", encoding="utf-8") as out:

        def write(message: ReceivedMessage) -> None:
            # One line per accepted message, flushed at once: the record survives a
            # kill of the process under test (and of this one).
            line = {
                "envelope_from": message.envelope_from,
                "recipients": list(message.recipients),
                "message_id": _message_id(message.data),
                "size": len(message.data),
            }
            out.write(json.dumps(line) + "\n")
            out.flush()

        async with SMTPTestServer(port=port, on_message=write, keep_messages=False) as server:
            print(f"listening on {server.host}:{server.port}", flush=True)
            await asyncio.Event().wait()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="SMTP sink for tests: logs accepted messages")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", type=Path, required=True, help="JSON Lines file to append to")
    arguments = parser.parse_args()
    asyncio.run(_serve(arguments.port, arguments.log))
