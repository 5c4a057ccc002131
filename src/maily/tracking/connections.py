"""The batcher's own Redis connections: one command and one reply at a time on a bare
asyncio protocol, the reply parsed by hiredis (redis-py's own parser).

Every batch of opens and clicks is one round trip, and on the tracking server's one
event-loop thread redis-py's way of making it — a connection taken from the pool and
health-checked, a timeout context per read, the parser's stream reads, the release —
cost about 50 µs of CPU a batch more than the round trip itself (measured with
`bench/tracking_cpu.py` and `bench/tracking.py`: 3-4 µs an open or click). The pool is
still where connection settings come from: host, port, database, user and password,
and the timeouts of `tracking_redis`. Anything this class does not speak (TLS, a Unix
socket, a credential provider) makes `AppendConnections.of` answer None, and the batcher
keeps using redis-py's pool.

A connection whose peer closed it (Redis restarted) is dropped before it is used
again; a command that gets no answer within the socket timeout, or a connection lost
while waiting, fails that batch (the batcher counts its events as not stored) and the
connection is thrown away, since its state is unknown."""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["AppendConnections"]

# The pool settings this class knows how to honour; any other one means "not for us".
_UNDERSTOOD = {
    "host",
    "port",
    "db",
    "username",
    "password",
    "socket_timeout",
    "socket_connect_timeout",
    "client_name",
}


def _command(*arguments: bytes) -> bytes:
    parts = [b"*%d\r\n" % len(arguments)]
    for argument in arguments:
        parts.append(b"$%d\r\n%s\r\n" % (len(argument), argument))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        # uvloop's transports are not asyncio.Transport subclasses, but write like one.
        self.transport: Any = None
        self.waiter: asyncio.Future[Any] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiter = self.waiter
        try:
            reply = self.reader.gets()
        except hiredis.ProtocolError as exc:
            self._lose(RedisConnectionError(f"Redis sent something that isn't RESP: {exc}"))
            return
        if reply is False:
            return  # the rest of the reply is still on its way
        self.waiter = None
        if waiter is None or waiter.done():
            # An answer nobody waits for (its command timed out): the connection is
            # out of step with its commands.
            self._lose(RedisConnectionError("a reply came after its command gave up"))
            return
        waiter.set_result(reply)

    def eof_received(self) -> bool:
        self._lose(RedisConnectionError("Redis closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lose(RedisConnectionError(f"the connection to Redis was lost: {exc or 'closed'}"))

    def _lose(self, error: Exception) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        if self.transport is not None:
            self.transport.close()


class AppendConnections:
    """Connections for the batcher's round trips, each used by one batch at a time."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.host = str(settings.get("host") or "localhost")
        self.port = int(settings.get("port") or 6379)
        self.timeout: float | None = settings.get("socket_timeout")
        self.connect_timeout: float | None = settings.get("socket_connect_timeout") or self.timeout
        # Sent once on every new connection, one after the other: AUTH, SELECT,
        # CLIENT SETNAME.
        handshake = []
        if settings.get("password"):
            password = str(settings["password"]).encode()
            username = settings.get("username")
            handshake.append(
                _command(b"AUTH", str(username).encode(), password)
                if username
                else _command(b"AUTH", password)
            )
        if settings.get("db"):
            handshake.append(_command(b"SELECT", b"%d" % int(settings["db"])))
        if settings.get("client_name"):
            handshake.append(_command(b"CLIENT", b"SETNAME", str(settings["client_name"]).encode()))
        self._handshake = handshake
        self._idle: list[_Protocol] = []

    @classmethod
    def of(cls, redis: Any) -> AppendConnections | None:
        """Connections with the settings of a redis-py client's pool, or None when the
        pool needs what this class does not do (TLS, a Unix socket, ...)."""
        pool = getattr(redis, "connection_pool", None)
        if pool is None or pool.connection_class is not Connection:
            return None
        settings = {k: v for k, v in pool.connection_kwargs.items() if v is not None}
        if not set(settings) <= _UNDERSTOOD:
            return None
        return cls(settings)

    async def call(self, command: bytes) -> Any:
        """Send one packed command and return its reply (an error reply raised as
        redis-py's exceptions)."""
        protocol = await self._take()
        reply = await self._exchange(protocol, command)
        self._idle.append(protocol)
        if isinstance(reply, hiredis.ReplyError):
            message = str(reply)
            if message.startswith("NOSCRIPT"):
                raise NoScriptError(message)
            raise ResponseError(message)
        return reply

    async def _exchange(self, protocol: _Protocol, command: bytes) -> Any:
        """Write one command and wait for its reply, at most the socket timeout; a
        connection whose command did not finish is thrown away."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        protocol.waiter = waiter
        protocol.transport.write(command)
        timer = (
            loop.call_later(self.timeout, _give_up, waiter) if self.timeout is not None else None
        )
        try:
            return await waiter
        except BaseException:
            protocol._lose(RedisConnectionError("the command did not finish"))
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def _take(self) -> _Protocol:
        while self._idle:
            protocol = self._idle.pop()
            if not protocol.closed and not protocol.transport.is_closing():
                return protocol
        return await self._connect()

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(_Protocol, self.host, self.port), self.connect_timeout
            )
        except TimeoutError:
            raise RedisTimeoutError(f"no connection to Redis at {self.host}:{self.port}") from None
        for command in self._handshake:
            reply = await self._exchange(protocol, command)
            if isinstance(reply, hiredis.ReplyError):
                protocol._lose(RedisConnectionError("refused"))
                raise RedisConnectionError(f"Redis refused the connection's set-up: {reply}")
        return protocol

    def close(self) -> None:
        """Close the idle connections (on shutdown, once no batch is in flight)."""
        for protocol in self._idle:
            protocol._lose(RedisConnectionError("closed"))
        self._idle.clear()


def _give_up(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(RedisTimeoutError("Redis did not answer in time"))
