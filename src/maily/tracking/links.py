"""Link tables: where a click token's link index leads, found without PostgreSQL.

The composer stores each compiled template's link table when it prepares a campaign:
in PostgreSQL (`link_tables`, the durable copy) and in Redis (`<prefix><id>`, no TTL).
The click endpoint looks a table up in its own small LRU, then in Redis, and only when
both have lost it in PostgreSQL, putting it back into Redis on the way. A table never
changes once written (its id is derived from its content), so no copy can be stale."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.kit.db import AsyncSession
from maily.kit.logging import get_logger
from maily.models import LinkTable

__all__ = [
    "DEFAULT_KEY_PREFIX",
    "LinkTables",
    "link_table_id",
    "load_link_table",
    "publish_link_table",
    "store_link_table",
]

DEFAULT_KEY_PREFIX = "maily:links:"
_NAMESPACE = uuid.UUID("6d61696c-792f-6c69-6e6b-2d7461626c65")

_log = get_logger("maily.tracking.links")


def _encode(links: Sequence[str]) -> str:
    return json.dumps(list(links), separators=(",", ":"), ensure_ascii=False)


def link_table_id(
    workspace_id: uuid.UUID, template_id: uuid.UUID, version: int, links: Sequence[str]
) -> uuid.UUID:
    """The id of a template version's compiled link table: the same links of the same
    version give the same id (re-preparing a campaign stores nothing new), while a
    version compiled with a changed layout or block gets a table of its own."""
    digest = hashlib.sha256(_encode(links).encode()).hexdigest()
    return uuid.uuid5(_NAMESPACE, f"{workspace_id.hex}/{template_id.hex}/{version}/{digest}")


async def store_link_table(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    table_id: uuid.UUID,
    template_id: uuid.UUID,
    version: int,
    links: Sequence[str],
) -> None:
    """Write a link table once (a second write of the same id changes nothing)."""
    statement = (
        insert(LinkTable)
        .values(
            workspace_id=workspace_id,
            id=table_id,
            template_id=template_id,
            template_version=version,
            links=list(links),
        )
        .on_conflict_do_nothing()
    )
    await session.execute(statement)


async def load_link_table(session: AsyncSession, table_id: uuid.UUID) -> list[str] | None:
    """A link table by id alone: the click token that names it is signed, so knowing
    the id is the authority (there is no workspace in the request to scope by)."""
    links = await session.scalar(select(LinkTable.links).where(LinkTable.id == table_id))
    return list(links) if links is not None else None


async def publish_link_table(
    redis: Any, table_id: uuid.UUID, links: Sequence[str], prefix: str = DEFAULT_KEY_PREFIX
) -> None:
    await redis.set(prefix + table_id.hex, _encode(links))


class LinkTables:
    """Link tables by id for the click endpoint: LRU, then Redis, then PostgreSQL."""

    def __init__(
        self,
        redis: Any,
        sessionmaker: async_sessionmaker[AsyncSession] | None,
        *,
        prefix: str = DEFAULT_KEY_PREFIX,
        capacity: int = 4096,
    ) -> None:
        self.redis = redis
        self.sessionmaker = sessionmaker
        self.prefix = prefix
        self.capacity = capacity
        self._cache: OrderedDict[uuid.UUID, tuple[str, ...]] = OrderedDict()
        # The same tables by raw id, for `table_of`; kept in step with `_cache`.
        self._by_bytes: dict[bytes, tuple[str, ...]] = {}
        self._loading: dict[uuid.UUID, asyncio.Future[tuple[str, ...] | None]] = {}
        # How often each tier answered (the bench and tests read these).
        self.redis_hits = 0
        self.database_hits = 0

    def table_of(self, raw_id: bytes) -> tuple[str, ...] | None:
        """A cached table by the 16 bytes of its id (the click path: no UUID made, no
        await, when the table is in this process already). A hit here does not count as
        use for the LRU: a busy table evicted is read from Redis again, once."""
        return self._by_bytes.get(raw_id)

    def cached(self, table_id: uuid.UUID) -> tuple[str, ...] | None:
        links = self._cache.get(table_id)
        if links is not None:
            self._cache.move_to_end(table_id)
        return links

    def forget(self, table_id: uuid.UUID | None = None) -> None:
        """Drop one table (or all) from the in-process cache."""
        if table_id is None:
            self._cache.clear()
            self._by_bytes.clear()
        else:
            self._cache.pop(table_id, None)
            self._by_bytes.pop(table_id.bytes, None)

    def _remember(self, table_id: uuid.UUID, links: tuple[str, ...]) -> None:
        self._cache[table_id] = links
        self._by_bytes[table_id.bytes] = links
        if len(self._cache) > self.capacity:
            evicted, _ = self._cache.popitem(last=False)
            del self._by_bytes[evicted.bytes]

    async def url(self, table_id: uuid.UUID, index: int) -> str | None:
        """The URL at `index` of the table, or None for an unknown table or index."""
        links = self._cache.get(table_id)
        if links is None:
            links = await self.get(table_id)
            if links is None:
                return None
        return links[index] if index < len(links) else None

    async def get(self, table_id: uuid.UUID) -> tuple[str, ...] | None:
        links = self.cached(table_id)
        if links is not None:
            return links
        # Concurrent clicks on a cold table wait for one lookup, not one each.
        pending = self._loading.get(table_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[tuple[str, ...] | None] = asyncio.get_running_loop().create_future()
        self._loading[table_id] = future
        try:
            links = await self._fetch(table_id)
            future.set_result(links)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters, if any, get it raised
            raise
        finally:
            del self._loading[table_id]
        if links is not None:
            self._remember(table_id, links)
        return links

    async def _fetch(self, table_id: uuid.UUID) -> tuple[str, ...] | None:
        key = self.prefix + table_id.hex
        redis_up = True
        try:
            raw = await self.redis.get(key)
        except (RedisError, OSError) as exc:
            redis_up = False
            raw = None
            _log.warning("link table not read from Redis", error=str(exc))
        if raw is not None:
            self.redis_hits += 1
            return tuple(json.loads(raw))
        if self.sessionmaker is None:
            return None
        links = await self._from_database(table_id)
        if links is None:
            return None
        self.database_hits += 1
        if redis_up:
            try:
                await publish_link_table(self.redis, table_id, links, self.prefix)
            except (RedisError, OSError) as exc:
                _log.warning("link table not put back into Redis", error=str(exc))
        return links

    async def _from_database(self, table_id: uuid.UUID) -> tuple[str, ...] | None:
        assert self.sessionmaker is not None
        async with self.sessionmaker() as session:
            links = await load_link_table(session, table_id)
        return tuple(links) if links is not None else None
