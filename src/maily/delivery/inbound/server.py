"""The SMTP server of `maily inbound` (aiosmtpd on the role's own event loop).

It accepts mail only for the VERP return path (`bounces+<token>@...`, tag checked at
RCPT) and the configured feedback-loop local parts; everything else is refused with
550. A message is applied in one transaction before the 250 goes back, so an MTA
that got 250 can forget it; a failure answers 451 and the MTA tries again later."""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.analytics.relay import EventRelay, HeldEvents, hold_events
from maily.config import BounceSettings, InboundSettings, Settings
from maily.delivery.bounces.service import BounceService
from maily.delivery.inbound.reading import feedback_from_message
from maily.delivery.verp import VERP_LOCAL_PART, Verp
from maily.kit.db import AsyncSession, create_engine, create_sessionmaker, transaction
from maily.kit.logging import get_logger

_log = get_logger("maily.inbound")


class BounceHandler:
    """aiosmtpd handler: RCPT decides who we take mail for, DATA applies it."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis | None,
        verp: Verp,
        bounces: BounceSettings,
        inbound: InboundSettings,
        stream_key: str,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.relay = EventRelay(sessionmaker, redis, stream_key) if redis is not None else None
        self.verp = verp
        self.bounces = bounces
        self.local_parts = {p.lower() for p in inbound.feedback_local_parts} | {VERP_LOCAL_PART}
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.processed = 0

    def accepts(self, address: str) -> bool:
        if self.verp.parse(address) is not None:
            return True
        local, at, _ = address.strip("<>").rpartition("@")
        return bool(at) and local.lower() in self.local_parts

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.accepts(address):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.in_flight += 1
        self.idle.clear()
        try:
            report, feedbacks = feedback_from_message(raw, envelope.rcpt_tos, self.verp)
            async with transaction(self.sessionmaker) as db:
                result = await BounceService(db, self.bounces).ingest(feedbacks)
                held: HeldEvents = await hold_events(db, result.events)
        except Exception:
            _log.exception("could not apply a bounce message; the sender will retry")
            return "451 4.3.0 Temporary failure, please try again later"
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.idle.set()
        if self.relay is not None:
            # Held in the transaction above: what Redis does not take now, the
            # scheduler's sweep appends later.
            await self.relay.relay_committed(held, source="inbound")
        self.processed += 1
        _log.info(
            "bounce message received",
            report=report.kind,
            recorded=result.recorded,
            duplicates=result.duplicates,
            unmatched=result.unmatched,
        )
        return "250 2.0.0 OK"


class InboundServer:
    """Listens on (host, port); `stop()` stops accepting, lets messages being applied
    finish (up to `grace` seconds), then closes the remaining sessions."""

    def __init__(self, handler: BounceHandler, settings: InboundSettings) -> None:
        self.handler = handler
        self.settings = settings
        self._server: asyncio.Server | None = None
        self._sessions: set[SMTP] = set()
        self.port = 0

    def _protocol(self) -> SMTP:
        protocol = _TrackedSMTP(
            self,
            self.handler,
            hostname=self.settings.hostname,
            ident="Maily inbound",
            data_size_limit=self.settings.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
        )
        return protocol

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, host=self.settings.host, port=self.settings.port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        _log.info("inbound SMTP listening", host=self.settings.host, port=self.port)
        return self.port

    async def stop(self, grace: float = 10.0) -> None:
        if self._server is None:
            return
        self._server.close()
        try:
            await asyncio.wait_for(self.handler.idle.wait(), grace)
        except TimeoutError:
            _log.warning("messages still being applied at stop", count=self.handler.in_flight)
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await self._server.wait_closed()
        self._server = None


class _TrackedSMTP(SMTP):
    def __init__(self, owner: InboundServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._owner._sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._owner._sessions.discard(self)
        super().connection_lost(error)


async def run_inbound(
    settings: Settings, stop: asyncio.Event, *, started: asyncio.Future[int] | None = None
) -> None:
    """The `inbound` role's main loop: serve SMTP until `stop` is set. `started`, when
    given, receives the port once the server listens."""
    if not settings.database.url:
        raise ValueError("the inbound server needs a database: set MAILY_DATABASE_URL")
    engine = create_engine(settings.database.url, pool_size=4, max_overflow=4)
    redis = Redis.from_url(settings.redis.url) if settings.redis.url else None
    try:
        handler = BounceHandler(
            create_sessionmaker(engine),
            redis,
            Verp.from_settings(settings),
            settings.bounces,
            settings.inbound,
            settings.analytics.stream_key,
        )
        server = InboundServer(handler, settings.inbound)
        port = await server.start()
        if started is not None and not started.done():
            started.set_result(port)
        try:
            await stop.wait()
        finally:
            await server.stop()
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
