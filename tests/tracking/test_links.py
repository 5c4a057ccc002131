"""Link tables: the in-process LRU in front of Redis in front of PostgreSQL."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from maily.tracking.links import LinkTables, link_table_id, publish_link_table


async def test_the_lru_keeps_its_capacity_and_reads_evicted_tables_from_redis(
    redis: Redis,
) -> None:
    tables = {uuid.uuid4(): [f"https://example.com/{n}/{i}" for i in range(3)] for n in range(3)}
    for table_id, links in tables.items():
        await publish_link_table(redis, table_id, links)
    cache = LinkTables(redis, None, capacity=2)
    first, _, third = tables
    for table_id in tables:
        assert await cache.url(table_id, 2) == tables[table_id][2]
    assert cache.redis_hits == 3
    assert cache.table_of(first.bytes) is None  # evicted
    assert cache.table_of(third.bytes) == tuple(tables[third])
    assert await cache.url(first, 0) == tables[first][0]
    assert cache.redis_hits == 4
    assert await cache.url(first, 3) is None  # past the table's end
    assert await cache.url(uuid.uuid4(), 0) is None  # no such table, no database


def test_a_table_id_follows_its_content() -> None:
    workspace, template = uuid.uuid4(), uuid.uuid4()
    links = ["https://example.com/a", "https://example.com/b"]
    same = link_table_id(workspace, template, 3, list(links))
    assert link_table_id(workspace, template, 3, links) == same
    assert link_table_id(workspace, template, 3, [*links, "https://example.com/c"]) != same
    assert link_table_id(workspace, template, 4, links) != same
    assert link_table_id(uuid.uuid4(), template, 3, links) != same
