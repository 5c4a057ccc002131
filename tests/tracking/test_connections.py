"""The batcher's own Redis connections: settings from the client's pool, a connection
Redis closed is replaced, no answer or a refused login fails the batch, and what they
can't speak goes through redis-py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from maily.tracking.batcher import EventBatcher, EventNotStored
from maily.tracking.connections import AppendConnections

KEY = "maily:test-connections"


@pytest.fixture(autouse=True)
async def _clean(redis: Redis) -> AsyncIterator[None]:
    yield
    await redis.delete(KEY)


def test_only_plain_tcp_with_known_settings_gets_its_own_connections() -> None:
    assert AppendConnections.of(Redis.from_url("redis://u:p@127.0.0.1:6379/3")) is not None
    assert AppendConnections.of(Redis.from_url("rediss://127.0.0.1:6379/3")) is None
    assert AppendConnections.of(Redis.from_url("unix:///tmp/redis.sock")) is None


async def test_a_connection_redis_closed_is_replaced_and_nothing_is_lost(
    redis: Redis, redis_url: str
) -> None:
    client = Redis.from_url(redis_url, client_name=f"maily-test-{uuid.uuid4().hex[:8]}")
    batcher = EventBatcher(client, KEY)
    assert batcher._connections is not None
    await batcher.append({"k": "open", "n": "1"})
    name = client.connection_pool.connection_kwargs["client_name"]
    [entry] = [c for c in await redis.client_list() if c.get("name") == name]
    await redis.client_kill_filter(_id=entry["id"])  # as a Redis restart would
    # The closed connection is noticed as the loop reads its end of stream.
    idle = batcher._connections._idle
    async with asyncio.timeout(5):
        while not all(protocol.closed for protocol in idle):
            await asyncio.sleep(0)
    async with asyncio.timeout(10):
        ids = await asyncio.gather(
            *(batcher.append({"k": "open", "n": str(n)}) for n in range(2, 6))
        )
    assert len(ids) == 4
    assert [f[b"n"] for _, f in await redis.xrange(KEY)] == [b"1", b"2", b"3", b"4", b"5"]
    await batcher.aclose()
    await client.aclose()


async def test_a_redis_that_does_not_answer_fails_the_batch_within_the_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)  # takes the command, never answers
        await asyncio.Event().wait()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=0.3)
    batcher = EventBatcher(client, KEY)
    with pytest.raises(EventNotStored):
        await asyncio.wait_for(batcher.append({"k": "open"}), 5)
    await batcher.aclose()
    server.close()


async def test_the_login_and_database_come_from_the_url(redis: Redis, redis_url: str) -> None:
    user, password = f"maily-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await redis.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=[KEY], commands=["+@all"]
    )
    base, database = redis_url.rsplit("/", 1)
    host = base.removeprefix("redis://")
    try:
        client = Redis.from_url(f"redis://{user}:{password}@{host}/{database}")
        batcher = EventBatcher(client, KEY)
        await batcher.append({"k": "open"})
        assert await redis.xlen(KEY) == 1  # the fixture's database, not database 0
        await batcher.aclose()
        wrong = Redis.from_url(f"redis://{user}:not-{password}@{host}/{database}")
        refused = EventBatcher(wrong, KEY)
        with pytest.raises(EventNotStored):
            await refused.append({"k": "open"})
        assert await redis.xlen(KEY) == 1
        await refused.aclose()
    finally:
        await redis.acl_deluser(user)
