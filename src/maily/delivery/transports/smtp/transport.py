"""The SMTP transport: a pool of sessions to one relay, paced, behind a circuit breaker."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator, Sequence
from functools import lru_cache

from maily.config import SMTPSecurity, SMTPSettings
from maily.delivery.transports.base import Outcome, OutgoingMessage, SendResult
from maily.delivery.transports.smtp.client import SMTPConnection, SMTPError, SMTPServer
from maily.kit.ratelimit import TokenBucket
from maily.kit.resilience import BreakerState, CircuitBreaker

__all__ = ["SMTPTransport", "ssl_context_from_settings"]


class _NoConnection(Exception):
    def __init__(self, result: SendResult) -> None:
        super().__init__(result.detail)
        self.result = result


@lru_cache(maxsize=1)
def _local_name() -> str:
    # getfqdn may ask DNS; once per process is enough.
    return socket.getfqdn() or "localhost"


def ssl_context_from_settings(settings: SMTPSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=str(settings.tls_ca_file) if settings.tls_ca_file else None
    )
    if not settings.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Pool:
    """At most `size` open sessions; idle ones are reused newest first."""

    def __init__(
        self,
        server: SMTPServer,
        size: int,
        messages_per_connection: int,
        idle_timeout: float,
        breaker: CircuitBreaker,
    ) -> None:
        self._server = server
        self._slots = asyncio.Semaphore(size)
        self._idle: list[SMTPConnection] = []
        self.messages_per_connection = messages_per_connection
        self._idle_timeout = idle_timeout
        self._breaker = breaker
        self.opened = 0

    async def acquire(self) -> tuple[SMTPConnection, bool]:
        """A session, and whether it was reused from the idle pool."""
        await self._slots.acquire()
        try:
            while self._idle:
                connection = self._idle.pop()
                if connection.usable(self._idle_timeout):
                    return connection, True
                connection.quit()
            if not self._breaker.allow():
                raise _NoConnection(_circuit_open(self._breaker))
            try:
                connection = await SMTPConnection.open(self._server)
            except SMTPError as exc:
                self._breaker.record_failure()
                code = exc.reply.code if exc.reply is not None else None
                raise _NoConnection(
                    SendResult(Outcome.deferred, code=code, detail=str(exc))
                ) from exc
            self._breaker.record_success()
            self.opened += 1
            return connection, False
        except BaseException:
            self._slots.release()
            raise

    def release(self, connection: SMTPConnection) -> None:
        if connection.closed:
            pass
        elif not connection.idle:
            # Left mid-transaction (an envelope written ahead): not reusable.
            connection.abort()
        elif connection.messages_sent >= self.messages_per_connection:
            connection.quit()
        else:
            self._idle.append(connection)
        self._slots.release()

    async def close_idle(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(connection.aclose() for connection in idle))


def _circuit_open(breaker: CircuitBreaker) -> SendResult:
    return SendResult(
        Outcome.deferred,
        detail=f"circuit breaker {breaker.name} is open",
        retry_after=breaker.retry_after or None,
    )


class SMTPTransport:
    """Delivers through one SMTP relay. Create one per relay per process and share it:
    it holds the pool, the pacing bucket and the breaker, and `send` may be called by
    many tasks at once (they share `max_connections`)."""

    name = "smtp"

    def __init__(
        self,
        server: SMTPServer,
        *,
        max_connections: int = 8,
        messages_per_connection: int = 1000,
        rate_per_second: float | None = None,
        idle_timeout: float = 30.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if messages_per_connection < 1:
            raise ValueError("messages_per_connection must be at least 1")
        self.server = server
        self.max_connections = max_connections
        self.breaker = breaker or CircuitBreaker(f"smtp:{server.host}:{server.port}")
        # One second's worth of burst: pacing, not a quota.
        self._pacer = (
            TokenBucket(rate_per_second, max(1.0, rate_per_second)) if rate_per_second else None
        )
        self._pool = _Pool(
            server, max_connections, messages_per_connection, idle_timeout, self.breaker
        )
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    @classmethod
    def from_settings(
        cls,
        settings: SMTPSettings,
        *,
        ssl_context: ssl.SSLContext | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> SMTPTransport:
        if not settings.host:
            raise ValueError("MAILY_SMTP__HOST is not set")
        server = SMTPServer(
            host=settings.host,
            port=settings.effective_port,
            security=settings.security,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            ehlo_name=settings.ehlo_name or _local_name(),
            ssl_context=(
                ssl_context or ssl_context_from_settings(settings)
                if settings.security is not SMTPSecurity.none
                else None
            ),
            connect_timeout=settings.connect_timeout_seconds,
            command_timeout=settings.command_timeout_seconds,
            data_timeout=settings.data_timeout_seconds,
        )
        return cls(
            server,
            max_connections=settings.max_connections,
            messages_per_connection=settings.messages_per_connection,
            rate_per_second=settings.rate_per_second,
            idle_timeout=settings.idle_timeout_seconds,
            breaker=breaker
            or CircuitBreaker(
                f"smtp:{server.host}:{server.port}",
                failure_threshold=settings.breaker_failure_threshold,
                cooldown_seconds=settings.breaker_cooldown_seconds,
            ),
        )

    @property
    def connections_opened(self) -> int:
        """Sessions opened since the transport was created (pool reuse shows here)."""
        return self._pool.opened

    async def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        if not messages:
            return []
        if self._closed:
            return [SendResult(Outcome.deferred, detail="transport closed")] * len(messages)
        if self.breaker.state is BreakerState.open:
            return [_circuit_open(self.breaker)] * len(messages)
        results: list[SendResult | None] = [None] * len(messages)
        # Workers take the next index from one iterator; no await sits between
        # taking an index and owning it, so no message is taken twice.
        indexes = iter(range(len(messages)))
        self._in_flight += 1
        self._idle.clear()
        try:
            workers = min(len(messages), self.max_connections)
            if workers == 1:
                await self._work(messages, results, indexes)
            else:
                async with asyncio.TaskGroup() as group:
                    for _ in range(workers):
                        group.create_task(self._work(messages, results, indexes))
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        # Messages no worker reached: every worker lost its way to the server.
        fallback = SendResult(Outcome.deferred, detail="no connection to the SMTP server")
        if self.breaker.state is BreakerState.open:  # type: ignore[comparison-overlap]
            fallback = _circuit_open(self.breaker)
        return [result if result is not None else fallback for result in results]

    async def _work(
        self,
        messages: Sequence[OutgoingMessage],
        results: list[SendResult | None],
        indexes: Iterator[int],
    ) -> None:
        connection: SMTPConnection | None = None
        reused = False
        index = next(indexes, None)
        try:
            while index is not None:
                if self._pacer is not None:
                    await self._pacer.acquire()
                # The worker's next message, taken early so that its envelope can go
                # out with this one's final dot; unpaced sending only, and never past
                # the session's last message.
                following: int | None = None
                while True:
                    if connection is None:
                        try:
                            connection, reused = await self._pool.acquire()
                        except _NoConnection as exc:
                            # This worker stops; the others carry on with the rest
                            # (one taken early and not reached is deferred by send()).
                            results[index] = exc.result
                            return
                    if (
                        following is None
                        and self._pacer is None
                        and connection.pipelining
                        and connection.messages_sent + 1 < self._pool.messages_per_connection
                    ):
                        following = next(indexes, None)
                    result = await connection.send(
                        messages[index], messages[following] if following is not None else None
                    )
                    if not (reused and connection.closed and connection.closed_unanswered):
                        break
                    # A pooled session the server had closed while it sat idle (its
                    # timeout, a restart): nothing reached a live session, so the
                    # message goes again over the next one, a fresh one at the latest.
                    self._pool.release(connection)
                    connection = None
                results[index] = result
                reused = False
                if connection.closed:
                    # Dropped, timed out or 421: the relay is unwell.
                    self.breaker.record_failure()
                    self._pool.release(connection)
                    connection = None
                else:
                    self.breaker.record_success()
                    if connection.messages_sent >= self._pool.messages_per_connection:
                        self._pool.release(connection)
                        connection = None
                index = following if following is not None else next(indexes, None)
        finally:
            if connection is not None:
                if _cancelling():
                    # Cancelled mid-transaction: the session's state is unknown.
                    connection.abort()
                self._pool.release(connection)

    async def aclose(self) -> None:
        """Refuse new sends, let the running ones finish, then QUIT every session."""
        self._closed = True
        await self._idle.wait()
        await self._pool.close_idle()


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
