"""The outbox: the transport used when none is configured. It keeps each message in
PostgreSQL, where the API shows it, instead of delivering it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from maily.delivery.outbox.repository import OutboxRepository
from maily.delivery.transports.base import Outcome, OutgoingMessage, SendResult
from maily.kit.db import AsyncSession, create_engine, create_sessionmaker, transaction
from maily.kit.db.base import new_uuid

# The column width of both addresses (RFC 5321's 64 + 1 + 255).
ADDRESS_LIMIT = 320


class OutboxTransport:
    """Stores every message of a `send` call with one multi-row INSERT, in its own
    transaction on the session factory it was given (not the caller's unit of work:
    the sender records results separately, as it would for a real transport)."""

    name = "outbox"

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        engine: AsyncEngine | None = None,
    ) -> None:
        # `engine`, when given, belongs to the transport and is disposed by aclose().
        self._sessionmaker = sessionmaker
        self._engine = engine
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._last_id: uuid.UUID | None = None

    @classmethod
    def from_url(cls, database_url: str, *, pool_size: int = 2) -> OutboxTransport:
        engine = create_engine(database_url, pool_size=pool_size, max_overflow=2)
        return cls(create_sessionmaker(engine), engine=engine)

    def next_id(self) -> uuid.UUID:
        """A UUIDv7 above the last one this transport made: the viewer lists newest
        first by id, and ids made in the same millisecond would otherwise fall in
        random order."""
        candidate = new_uuid()
        if self._last_id is not None and candidate <= self._last_id:
            candidate = uuid.UUID(int=self._last_id.int + 1)
        self._last_id = candidate
        return candidate

    def row(self, message: OutgoingMessage) -> dict[str, Any]:
        # PostgreSQL text cannot hold NUL; these fields are shown, never parsed.
        return {
            "workspace_id": message.workspace_id,
            "id": self.next_id(),
            "delivery_id": message.delivery_id,
            "envelope_from": message.envelope_from.replace("\x00", ""),
            "recipient": message.recipient.replace("\x00", ""),
            "subject": message.subject.replace("\x00", ""),
            "raw": message.data,
            "size": len(message.data),
        }

    @staticmethod
    def problem(message: OutgoingMessage) -> str | None:
        """Why a message cannot be stored at all; it must not hold up the batch."""
        for what, value in (
            ("recipient", message.recipient),
            ("return path", message.envelope_from),
        ):
            if len(value) > ADDRESS_LIMIT:
                return f"the {what} is longer than {ADDRESS_LIMIT} characters"
        return None

    async def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        if self._closed:
            return [SendResult(Outcome.deferred, detail="the outbox is closed") for _ in messages]
        results: list[SendResult] = []
        rows = []
        for message in messages:
            problem = self.problem(message)
            if problem is None:
                row = self.row(message)
                rows.append(row)
                results.append(
                    SendResult(
                        Outcome.sent,
                        detail="kept in the outbox",
                        provider_message_id=str(row["id"]),
                    )
                )
            else:
                results.append(SendResult(Outcome.failed, detail=problem))
        if rows:
            self._in_flight += 1
            self._idle.clear()
            try:
                async with transaction(self._sessionmaker) as session:
                    await OutboxRepository(session).add_many(rows)
            except (SQLAlchemyError, OSError) as exc:
                # Nothing was committed: every message can be tried again.
                detail = f"the outbox could not store the messages: {type(exc).__name__}: {exc}"
                deferred = SendResult(Outcome.deferred, detail=detail[:500])
                results = [deferred if r.outcome is Outcome.sent else r for r in results]
            finally:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.set()
        return results

    async def aclose(self) -> None:
        self._closed = True
        await self._idle.wait()
        if self._engine is not None:
            await self._engine.dispose()
