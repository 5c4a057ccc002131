"""The analytics consumer against real PostgreSQL and Redis: events, rollups, first
engagement, contacts, replays, dead consumers, trimming, live counters, tenancy."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.analytics.stream import (
    BounceType,
    EventKind,
    MachineReason,
    TrackingEvent,
    live_channel,
)
from maily.analytics.tally import hour_of
from maily.config import Settings
from maily.kit.db import AsyncSession
from tests.analytics.support import (
    LINKS,
    AnalyticsWorld,
    append,
    caught_up,
    click_event,
    consumer,
    drain,
    ms,
    open_event,
    wait_for,
)

STREAM = "maily:events"


async def test_a_mix_of_events_is_stored_and_rolled_up(
    world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    campaign_id, (a, b, c, d, e, f) = await world.campaign(6, sent_at=sent_at)
    later = sent_at + timedelta(minutes=30)
    events = [
        open_event(a, later),  # a person
        open_event(a, later + timedelta(minutes=5)),  # the same person again
        open_event(b, sent_at + timedelta(seconds=1)),  # fetched on arrival: prefetch
        open_event(c, later, machine=MachineReason.proxy),  # flagged at ingest
        open_event(c, later + timedelta(hours=1)),  # then a person
        click_event(a, later + timedelta(minutes=1), 0),
        click_event(a, later + timedelta(minutes=2), 0),  # same link again
        click_event(a, later + timedelta(minutes=3), 1),
        click_event(b, sent_at + timedelta(seconds=3), 2),  # within seconds: scanner
        # every link at once, a minute after delivery: a scanner too
        click_event(d, later, 0),
        click_event(d, later + timedelta(milliseconds=300), 1),
        click_event(d, later + timedelta(milliseconds=600), 2),
        TrackingEvent(EventKind.bounce, e, ms(later), bounce_type=BounceType.hard,
                      code="5.1.1", source="inbound"),
        TrackingEvent(EventKind.bounce, e, ms(later), bounce_type=BounceType.hard,
                      code="5.1.1", source="ses"),  # the same bounce from a second source
        TrackingEvent(EventKind.bounce, f, ms(later), bounce_type=BounceType.soft,
                      code="4.2.2", source="ses"),
        TrackingEvent(EventKind.complaint, f, ms(later), bounce_type=BounceType.complaint,
                      source="ses"),
        TrackingEvent(EventKind.delivered, a, ms(sent_at), source="ses"),
    ]  # fmt: skip
    await append(redis, STREAM, events)
    worker = consumer(settings, sessionmaker, redis, block_ms=50)
    assert await drain(worker) == len(events)

    assert await world.scalar("SELECT count(*) FROM events WHERE workspace_id = :w") == 17
    machines = await world.rows(
        "SELECT machine, count(*) FROM events WHERE workspace_id = :w GROUP BY machine"
    )
    assert dict(machines) == {None: 11, "prefetch": 1, "proxy": 1, "scanner": 4}
    totals = await world.totals(campaign_id)
    assert totals == {
        "sent": 0,  # counted by the sender's result write, not from events
        "delivered": 1,
        "hard_bounces": 1,
        "soft_bounces": 1,
        "complaints": 1,
        "unsubscribes": 0,
        "opens": 5,
        "human_opens": 3,
        "unique_opens": 3,
        "unique_human_opens": 2,
        "clicks": 7,
        "human_clicks": 3,
        "unique_clicks": 3,
        "unique_human_clicks": 1,
    }
    # Opens and clicks are counted in the hour they happened.
    hours = await world.rows(
        "SELECT hour, sum(opens) FROM campaign_stats WHERE workspace_id = :w"
        " GROUP BY hour ORDER BY hour"
    )
    expected_hours = Counter(
        hour_of(datetime.fromtimestamp(event.at_ms / 1000, UTC))
        for event in events
        if event.kind is EventKind.open
    )
    assert dict(hours) == expected_hours
    links = await world.rows(
        "SELECT link_index, url, clicks, human_clicks, unique_clicks, unique_human_clicks"
        " FROM campaign_link_stats WHERE workspace_id = :w ORDER BY link_index"
    )
    assert links == [
        (0, LINKS[0], 3, 2, 2, 1),
        (1, LINKS[1], 2, 1, 2, 1),
        (2, LINKS[2], 2, 0, 2, 0),
    ]
    domains = {
        row.domain: row
        for row in await world.rows("SELECT * FROM campaign_domain_stats WHERE workspace_id = :w")
    }
    # a, d are gmail.com; b, e outlook.com; c, f example.org (round robin)
    assert (domains["gmail.com"].opens, domains["gmail.com"].unique_opens) == (2, 1)
    assert (domains["gmail.com"].clicks, domains["gmail.com"].unique_clicks) == (6, 2)
    assert domains["gmail.com"].delivered == 1
    assert domains["outlook.com"].hard_bounces == 1
    assert (domains["example.org"].soft_bounces, domains["example.org"].complaints) == (1, 1)

    firsts = {
        row.id: row
        for row in await world.rows(
            "SELECT id, first_open_at, first_human_open_at, first_click_at,"
            " first_human_click_at FROM deliveries WHERE workspace_id = :w"
        )
    }
    assert (firsts[a].first_open_at, firsts[a].first_human_open_at) == (later, later)
    assert firsts[b].first_open_at is not None
    assert firsts[b].first_human_open_at is None
    assert firsts[c].first_open_at == later
    assert firsts[c].first_human_open_at == later + timedelta(hours=1)
    assert (firsts[d].first_click_at, firsts[d].first_human_click_at) == (later, None)

    contact_a = world.deliveries[a][0]
    person = (
        await world.rows(
            "SELECT last_open_at, last_click_at, opens_count, clicks_count FROM contacts"
            " WHERE workspace_id = :w AND id = :c",
            c=contact_a,
        )
    )[0]
    assert tuple(person) == (
        later + timedelta(minutes=5),
        later + timedelta(minutes=3),
        2,
        3,
    )
    # Machines leave a person's engagement alone.
    contact_d = world.deliveries[d][0]
    assert (
        await world.scalar(
            "SELECT clicks_count FROM contacts WHERE workspace_id = :w AND id = :c", c=contact_d
        )
        == 0
    )


async def test_replaying_entries_changes_nothing(
    world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    campaign_id, deliveries = await world.campaign(4)
    at = datetime.now(UTC) - timedelta(minutes=10)
    events = [open_event(d, at) for d in deliveries] + [
        click_event(deliveries[0], at, 1),
        TrackingEvent(EventKind.unsubscribe, deliveries[1], ms(at), channel=None),
        TrackingEvent(EventKind.complaint, deliveries[2], ms(at)),
    ]
    ids = await append(redis, STREAM, events)
    worker = consumer(settings, sessionmaker, redis, block_ms=50)
    await drain(worker)
    before = await world.snapshot()
    assert len(before["events"]) == len(events)
    assert (await world.totals(campaign_id))["opens"] == 4

    # The same entries again, as a consumer that died before acknowledging would see them.
    # (The stream was trimmed once they were acknowledged, so they come from here.)
    replay = [(i, f) for i, f in zip(ids, [_fields(e) for e in events], strict=True)]
    for _ in range(2):
        report = await worker.process(replay)
        assert (report.stored, report.duplicates) == (0, len(events))
    assert await world.snapshot() == before


def _fields(event: TrackingEvent) -> dict[str, str]:
    from maily.analytics.stream import encode_event

    return encode_event(event)


async def test_entries_left_by_a_dead_consumer_are_claimed_and_counted_once(
    world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    campaign_id, deliveries = await world.campaign(5)
    at = datetime.now(UTC) - timedelta(minutes=10)
    await append(redis, STREAM, [open_event(d, at) for d in deliveries])
    dead = consumer(settings, sessionmaker, redis, name="dead", block_ms=50)
    await dead.ensure_group()
    # It reads the batch, and dies before storing or acknowledging anything.
    taken = await redis.xreadgroup("analytics", "dead", {STREAM: ">"}, count=100)
    assert len(taken[0][1]) == 5
    await redis.xreadgroup("analytics", "long-gone", {STREAM: ">"}, count=1)  # reads nothing

    alive = consumer(
        settings, sessionmaker, redis, name="alive", block_ms=50, claim_idle_seconds=0.2
    )
    assert await alive.step() is None  # its own backlog: empty
    claimed: list[object] = []

    async def took_over() -> bool:
        claimed.extend(await alive.claim())
        return bool(claimed)

    await wait_for(took_over, 10, lambda: "nothing was claimed")
    report = await alive.process(claimed)  # type: ignore[arg-type]
    assert report.stored == 5
    assert (await redis.xpending(STREAM, "analytics"))["pending"] == 0
    totals = await world.totals(campaign_id)
    assert (totals["opens"], totals["unique_opens"]) == (5, 5)

    # Consumers with nothing pending that stopped reading a while ago are forgotten.
    later = consumer(
        settings, sessionmaker, redis, name="later", block_ms=50, claim_idle_seconds=0.001
    )

    async def forgotten() -> bool:
        await later.trim()
        names = {c["name"] for c in await redis.xinfo_consumers(STREAM, "analytics")}
        return b"long-gone" not in names and b"alive" not in names

    await wait_for(forgotten, 10, lambda: "stopped consumers are still in the group")

    # The dead consumer's entry, had it come back and stored it after all, adds nothing.
    again = await dead.process([(e.decode(), f) for e, f in taken[0][1]])
    assert again.stored == 0
    assert (await world.totals(campaign_id))["opens"] == 5


async def test_undecodable_entries_and_unknown_deliveries_are_acknowledged(
    world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    import uuid

    campaign_id, (known,) = await world.campaign(1)
    at = datetime.now(UTC)
    await redis.xadd(STREAM, {"k": "teleport", "d": "zz", "t": "x"})
    await append(redis, STREAM, [open_event(uuid.uuid4(), at), open_event(known, at)])
    worker = consumer(settings, sessionmaker, redis, block_ms=50)
    await worker.ensure_group()
    reports = []
    while not reports or reports[-1] is None:
        reports.append(await worker.step())
    report = reports[-1]
    assert report is not None
    assert (report.undecodable, report.unknown, report.stored) == (1, 1, 1)
    assert (await redis.xpending(STREAM, "analytics"))["pending"] == 0
    assert (await world.totals(campaign_id))["opens"] == 1


async def test_the_stream_is_trimmed_below_what_every_group_acknowledged(
    world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    _, deliveries = await world.campaign(3)
    at = datetime.now(UTC)
    ids = await append(redis, STREAM, [open_event(d, at) for d in deliveries])
    # The webhook dispatcher's group exists and has read only the first entry.
    await redis.xgroup_create(STREAM, "webhooks", id="0")
    await redis.xreadgroup("webhooks", "hooks-1", {STREAM: ">"}, count=1)
    worker = consumer(settings, sessionmaker, redis, block_ms=50)
    await drain(worker)
    await worker.trim()
    # The first entry is pending for webhooks: nothing below it may go, so nothing goes.
    assert await redis.xlen(STREAM) == 3
    await redis.xack(STREAM, "webhooks", ids[0])
    await worker.trim()
    # Entries the webhooks group has not read yet stay too.
    assert [e.decode() for e, _ in await redis.xrange(STREAM)] == ids
    await redis.xreadgroup("webhooks", "hooks-1", {STREAM: ">"}, count=10)
    await redis.xack(STREAM, "webhooks", *ids[1:])
    await redis.xgroup_destroy(STREAM, "webhooks")  # a group that is gone is ignored
    await worker.trim()
    # Everything is acknowledged; the last entry read stays as the group's marker.
    assert [e.decode() for e, _ in await redis.xrange(STREAM)] == [ids[-1]]


async def test_live_counters_are_published_to_the_workspace_channel(
    world: AnalyticsWorld,
    other_world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    campaign_id, deliveries = await world.campaign(2)
    pubsub = redis.pubsub()
    await pubsub.subscribe(
        live_channel(settings.analytics.live_channel_prefix, world.workspace_id),
        live_channel(settings.analytics.live_channel_prefix, other_world.workspace_id),
    )
    at = datetime.now(UTC) - timedelta(minutes=5)
    await append(redis, STREAM, [open_event(d, at) for d in deliveries])
    await drain(consumer(settings, sessionmaker, redis, block_ms=50))
    messages = []

    async def got_progress() -> bool:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            messages.append(message)
        return any(json.loads(m["data"])["type"] == "campaign.progress" for m in messages)

    await wait_for(got_progress, 10, lambda: f"messages: {messages}")
    await pubsub.aclose()
    progress = [json.loads(m["data"]) for m in messages]
    assert {m["channel"].decode() for m in messages} == {
        live_channel(settings.analytics.live_channel_prefix, world.workspace_id)
    }
    assert progress[0]["campaign_id"] == str(campaign_id)
    assert progress[0]["counters"]["opens"] == 2
    assert progress[0]["counters"]["unique_opens"] == 2


async def test_events_of_one_workspace_never_touch_another_workspaces_rollups(
    world: AnalyticsWorld,
    other_world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    mine, my_deliveries = await world.campaign(3)
    theirs, their_deliveries = await other_world.campaign(3)
    at = datetime.now(UTC) - timedelta(minutes=5)
    await append(
        redis,
        STREAM,
        [open_event(d, at) for d in my_deliveries]
        + [click_event(d, at, 0) for d in my_deliveries]
        + [TrackingEvent(EventKind.unsubscribe, my_deliveries[0], ms(at))],
    )
    before = await other_world.snapshot()
    await drain(consumer(settings, sessionmaker, redis, block_ms=50))
    assert await other_world.snapshot() == before
    assert (await other_world.totals(theirs))["opens"] == 0
    assert (await world.totals(mine))["opens"] == 3
    # Every row written carries the workspace of the delivery its event named.
    assert (
        await world.scalar(
            "SELECT count(*) FROM events WHERE delivery_id = ANY(:ids) AND workspace_id <> :w",
            ids=my_deliveries,
        )
        == 0
    )
    assert their_deliveries


async def test_an_entry_whose_delivery_is_locked_waits_for_the_next_pass(
    world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    """The consumer never waits on a delivery row another transaction holds (a sender
    recording its result): that entry stays pending and is taken on the next pass."""
    campaign_id, (busy, free) = await world.campaign(2)
    at = datetime.now(UTC) - timedelta(minutes=5)
    ids = await append(redis, STREAM, [open_event(busy, at), open_event(free, at)])
    worker = consumer(settings, sessionmaker, redis, block_ms=50)
    await worker.ensure_group()
    async with sessionmaker() as holder, holder.begin():
        await holder.execute(
            text("SELECT 1 FROM deliveries WHERE workspace_id = :w AND id = :d FOR UPDATE"),
            {"w": world.workspace_id, "d": busy},
        )
        entries = await worker._read(">", block=None)
        report = await worker.process(entries)
        assert report.deferred == {ids[0]}
        assert report.stored == 1
        pending = await redis.xpending_range(STREAM, "analytics", "-", "+", 10)
        assert [p["message_id"].decode() for p in pending] == [ids[0]]
    await drain(worker)
    totals = await world.totals(campaign_id)
    assert (totals["opens"], totals["unique_opens"]) == (2, 2)


async def test_entries_postgresql_could_not_store_do_not_stop_the_stream(
    world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    campaign_id, (delivery,) = await world.campaign(1)
    at = datetime.now(UTC) - timedelta(minutes=5)
    good = open_event(delivery, at, user_agent="Mozilla/5.0 \x00 (nul)", ip="not an ip")
    await append(redis, STREAM, [good])
    hex_id = delivery.hex
    await redis.xadd(STREAM, {"k": "open", "d": hex_id, "t": str(10**18)})
    await redis.xadd(STREAM, {"k": "click", "d": hex_id, "t": str(ms(at)), "l": str(2**40)})
    worker = consumer(settings, sessionmaker, redis, block_ms=50)
    await drain(worker)
    assert (await world.totals(campaign_id))["opens"] == 1
    assert (
        await world.scalar("SELECT data ->> 'ua' FROM events WHERE workspace_id = :w")
        == "Mozilla/5.0  (nul)"
    )
    assert (await redis.xpending(STREAM, "analytics"))["pending"] == 0


async def test_an_entry_postgresql_refuses_every_time_is_set_aside_and_the_rest_stored(
    world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    """A trigger in the database refuses one event (as a constraint would): the batch
    fails, is retried, then goes entry by entry; that entry is acknowledged unstored."""
    campaign_id, deliveries = await world.campaign(3)
    at = datetime.now(UTC) - timedelta(minutes=5)
    ids = await append(
        redis,
        STREAM,
        [
            open_event(deliveries[0], at),
            open_event(deliveries[1], at, user_agent="refuse me"),
            open_event(deliveries[2], at),
        ],
    )
    async with sessionmaker() as ddl, ddl.begin():
        await ddl.execute(
            text(
                "CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN IF NEW.data ->> 'ua' = 'refuse me' THEN"
                " RAISE EXCEPTION 'refused' USING ERRCODE = '22023'; END IF;"
                " RETURN NEW; END $$"
            )
        )
        await ddl.execute(
            text(
                "CREATE TRIGGER refuse_event BEFORE INSERT ON events"
                " FOR EACH ROW EXECUTE FUNCTION refuse_event()"
            )
        )
    worker = consumer(settings, sessionmaker, redis, block_ms=50)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:

        async def settled() -> bool:
            assert not running.done(), running
            return await caught_up(redis, STREAM)

        await wait_for(settled, 60, lambda: "the refused entry still holds the stream up")
    finally:
        stop.set()
        await running
        async with sessionmaker() as ddl, ddl.begin():
            await ddl.execute(text("DROP TRIGGER refuse_event ON events"))
            await ddl.execute(text("DROP FUNCTION refuse_event()"))
    stored = await world.rows("SELECT stream_id FROM events WHERE workspace_id = :w")
    assert sorted(r.stream_id for r in stored) == sorted([ids[0], ids[2]])
    assert (await world.totals(campaign_id))["opens"] == 2


async def test_a_click_counts_the_url_its_message_carried_after_the_template_changed(
    world: AnalyticsWorld,
    other_world: AnalyticsWorld,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    campaign_id, (a, b) = await world.campaign(2, sent_at=sent_at)
    carried = await world.link_table(campaign_id)  # what the messages were composed with
    other_campaign, _ = await other_world.campaign(1, sent_at=sent_at)
    await other_world.change_template(
        other_campaign, [f"https://elsewhere.example/{i}" for i in range(4)]
    )
    foreign = await other_world.link_table(other_campaign)
    changed = ["https://shop.example/autumn", "https://shop.example/winter", "https://new.example/"]
    await world.change_template(campaign_id, changed)  # edited after sending
    later = sent_at + timedelta(minutes=30)
    await append(
        redis,
        STREAM,
        [
            click_event(a, later, 0, link_table=carried),
            click_event(b, later + timedelta(minutes=1), 0, link_table=carried),
            click_event(b, later + timedelta(minutes=2), 1, link_table=carried),
            # written before events named their link table: the template's version now
            click_event(a, later + timedelta(minutes=3), 2),
            # a table of another workspace is never read for this one's clicks
            click_event(a, later + timedelta(minutes=4), 3, link_table=foreign),
        ],
    )
    await drain(consumer(settings, sessionmaker, redis, block_ms=50))

    links = await world.rows(
        "SELECT link_index, url, clicks FROM campaign_link_stats"
        " WHERE workspace_id = :w AND campaign_id = :c ORDER BY link_index",
        c=campaign_id,
    )
    assert [tuple(row) for row in links] == [
        (0, LINKS[0], 2),
        (1, LINKS[1], 1),
        (2, changed[2], 1),
        (3, "", 1),
    ]
    assert (
        await other_world.scalar("SELECT count(*) FROM campaign_link_stats WHERE workspace_id = :w")
        == 0
    )
