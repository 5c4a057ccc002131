"""All SQL of the analytics service: resolving a batch's deliveries, storing events,
the ledger's first engagement, the rollups, the contacts' engagement fields.

The consumer works across workspaces on purpose (one stream serves every tenant), but
every row it writes carries the workspace of the delivery the event names, and every
statement joins on it. Each statement takes a whole batch as parallel arrays (unnest),
so a batch costs a handful of round trips whatever its size. Upserts go in primary-key
order, so two consumers (or a consumer and a sender) take row locks in the same order."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from maily.analytics.tally import (
    CampaignKey,
    DeliveryContext,
    Incoming,
    Prior,
    Tally,
)
from maily.kit.db import AsyncSession
from maily.kit.db.base import new_uuid_run
from maily.models.analytics import CAMPAIGN_COUNTERS, DOMAIN_COUNTERS, LINK_COUNTERS

# The deliveries a batch names, row-locked: two consumers handling events of one message
# take turns, so its first open is counted once. SKIP LOCKED: the consumer never waits
# for a delivery row (a sender recording its result, another consumer); the entries of
# a row it could not lock wait for its next pass instead, so it can't deadlock a
# sender's result write. The template is the one the message was composed from (an A/B
# variant's own, else the campaign's).
# Each id is looked up (and row-locked) on its own through ix_deliveries_id. Written as
# one join on `d.id = ANY(:ids)`, the planner may read the campaign's whole ledger
# through the (workspace, campaign, contact) index and filter it: fine on a small
# campaign, one full read of a million rows per batch on a big one.
# The columns are in DeliveryContext's field order: each row becomes one positionally.
_RESOLVE = text(
    """
    SELECT d.workspace_id, d.id, d.campaign_id, d.contact_id,
           coalesce(d.variant, '') AS variant,
           lower(split_part(d.email, '@', 2)) AS domain,
           d.sent_at,
           coalesce(
               (SELECT CAST(v ->> 'template_id' AS uuid)
                  FROM jsonb_array_elements(coalesce(c.ab_test -> 'variants', '[]'::jsonb)) AS v
                 WHERE v ->> 'name' = coalesce(d.variant, c.ab_winner)
                   AND v ->> 'template_id' IS NOT NULL
                 LIMIT 1),
               c.template_id
           ) AS template_id,
           d.first_open_at, d.first_human_open_at,
           d.first_click_at, d.first_human_click_at
      FROM (SELECT DISTINCT k.id FROM unnest(CAST(:ids AS uuid[])) AS k(id) ORDER BY k.id) AS k
     CROSS JOIN LATERAL (
           SELECT * FROM deliveries AS one WHERE one.id = k.id
              FOR NO KEY UPDATE SKIP LOCKED
     ) AS d
      JOIN campaigns AS c ON c.workspace_id = d.workspace_id AND c.id = d.campaign_id
    """
)

# How long before its recorded send time (or after now) an event of a message may be
# stamped: the clocks of the tracking hosts, the senders and the database differ, and a
# scanner may fetch a message before the sender has recorded it as sent.
PRIOR_MARGIN = timedelta(days=1)
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)

_EXISTING = text("SELECT id FROM deliveries WHERE id = ANY(CAST(:ids AS uuid[]))")

# For the batch's clicks, bounces, complaints and delivery notices: what is stored
# already about their message (run after _RESOLVE, so it sees every committed event of
# the locked deliveries). A click's URL is the one its message carried: the entry of the
# link table the click token named (`lt`, in the delivery's workspace). Only a click
# written without one (before events named their table) falls back to the template's
# current version, which may have changed since the message was sent.
# The message's events are found through ix_events_delivery, in the partitions from a
# day before the message was sent (`since`) to a day from now (`until`): without those
# bounds every EXISTS probes every monthly partition, dozens per entry. Their workspace is compared
# as text so no (workspace_id, ...) index can serve that test instead: on a month's
# partition not yet analysed (a new month, a burst of clicks), the planner would take
# one and read every event of the workspace within the window for each entry.
_PRIOR = text(
    """
    SELECT x.pos,
           CASE WHEN x.kind <> 'click' THEN NULL
                WHEN x.link_table IS NOT NULL THEN (
               SELECT lt.links ->> x.link_index
                 FROM link_tables AS lt
                WHERE lt.workspace_id = x.workspace_id AND lt.id = x.link_table
           ) ELSE (
               SELECT tv.links ->> x.link_index
                 FROM templates AS t
                 JOIN template_versions AS tv
                   ON tv.workspace_id = t.workspace_id AND tv.template_id = t.id
                  AND tv.version = t.current_version
                WHERE t.workspace_id = x.workspace_id AND t.id = x.template_id
           ) END AS url,
           x.kind = 'click' AND EXISTS (
               SELECT 1 FROM events AS e
                WHERE e.delivery_id = x.delivery_id AND e.type = 'click' AND e.type <> 'open'
                  AND CAST(e.workspace_id AS text) = CAST(x.workspace_id AS text)
                  AND e.occurred_at >= x.since AND e.occurred_at < CAST(:until AS timestamptz)
                  AND e.occurred_at BETWEEN x.at - CAST(:burst AS interval)
                                        AND x.at + CAST(:burst AS interval)
                  AND e.link_index IS DISTINCT FROM x.link_index
                  AND e.stream_id IS DISTINCT FROM x.stream_id
           ) AS burst,
           EXISTS (
               SELECT 1 FROM events AS e
                WHERE e.delivery_id = x.delivery_id AND e.type = x.kind AND e.type <> 'open'
                  AND CAST(e.workspace_id AS text) = CAST(x.workspace_id AS text)
                  AND e.occurred_at >= x.since AND e.occurred_at < CAST(:until AS timestamptz)
                  AND (x.kind <> 'click' OR e.link_index = x.link_index)
                  AND (x.kind <> 'bounce' OR e.data ->> 'bt' IS NOT DISTINCT FROM x.bt)
                  AND e.stream_id IS DISTINCT FROM x.stream_id
           ) AS seen,
           x.kind = 'click' AND EXISTS (
               SELECT 1 FROM events AS e
                WHERE e.delivery_id = x.delivery_id AND e.type = 'click' AND e.type <> 'open'
                  AND CAST(e.workspace_id AS text) = CAST(x.workspace_id AS text)
                  AND e.occurred_at >= x.since AND e.occurred_at < CAST(:until AS timestamptz)
                  AND e.link_index = x.link_index AND e.machine IS NULL
                  AND e.stream_id IS DISTINCT FROM x.stream_id
           ) AS seen_human
      FROM unnest(
          CAST(:pos AS integer[]), CAST(:workspace_ids AS uuid[]), CAST(:delivery_ids AS uuid[]),
          CAST(:kinds AS text[]), CAST(:ats AS timestamptz[]), CAST(:links AS integer[]),
          CAST(:bts AS text[]), CAST(:stream_ids AS text[]), CAST(:template_ids AS uuid[]),
          CAST(:link_tables AS uuid[]), CAST(:sinces AS timestamptz[])
      ) AS x(pos, workspace_id, delivery_id, kind, at, link_index, bt, stream_id, template_id,
             link_table, since)
    """
)

# Stored once per stream entry: a replayed entry conflicts and is left out of RETURNING,
# so only what is new gets counted.
_INSERT_EVENTS = text(
    """
    INSERT INTO events (workspace_id, occurred_at, id, contact_id, campaign_id, type,
                        delivery_id, stream_id, machine, link_index, variant, data)
    SELECT * FROM unnest(
        CAST(:workspace_ids AS uuid[]), CAST(:ats AS timestamptz[]), CAST(:ids AS uuid[]),
        CAST(:contact_ids AS uuid[]), CAST(:campaign_ids AS uuid[]), CAST(:types AS text[]),
        CAST(:delivery_ids AS uuid[]), CAST(:stream_ids AS text[]), CAST(:machines AS text[]),
        CAST(:links AS integer[]), CAST(:variants AS text[]), CAST(:data AS jsonb[])
    )
    ON CONFLICT (stream_id, occurred_at) DO NOTHING
    RETURNING stream_id
    """
)

# First engagement only ever moves from NULL to a time (the unique counts).
_SET_FIRSTS = text(
    """
    UPDATE deliveries AS d
       SET first_open_at = coalesce(d.first_open_at, u.open_at),
           first_human_open_at = coalesce(d.first_human_open_at, u.human_open_at),
           first_click_at = coalesce(d.first_click_at, u.click_at),
           first_human_click_at = coalesce(d.first_human_click_at, u.human_click_at)
      FROM unnest(
          CAST(:workspace_ids AS uuid[]), CAST(:ids AS uuid[]),
          CAST(:open_ats AS timestamptz[]), CAST(:human_open_ats AS timestamptz[]),
          CAST(:click_ats AS timestamptz[]), CAST(:human_click_ats AS timestamptz[])
      ) AS u(workspace_id, id, open_at, human_open_at, click_at, human_click_at)
     WHERE d.workspace_id = u.workspace_id AND d.id = u.id
    """
)

# A person's latest open and click never move back; the counts only grow. The rows
# are locked in key order, as the senders lock them to record sends, so a consumer
# batch and a send batch touching the same contacts wait for each other instead of
# deadlocking.
_CONTACTS = text(
    """
    WITH u AS (
        SELECT * FROM unnest(
            CAST(:workspace_ids AS uuid[]), CAST(:ids AS uuid[]),
            CAST(:last_open_ats AS timestamptz[]), CAST(:last_click_ats AS timestamptz[]),
            CAST(:opens AS integer[]), CAST(:clicks AS integer[])
        ) AS u(workspace_id, id, last_open_at, last_click_at, opens, clicks)
    ), locked AS (
        SELECT c.workspace_id, c.id, u.last_open_at, u.last_click_at, u.opens, u.clicks
          FROM contacts AS c
          JOIN u ON c.workspace_id = u.workspace_id AND c.id = u.id
         ORDER BY c.workspace_id, c.id
           FOR NO KEY UPDATE OF c
    )
    UPDATE contacts AS c
       SET last_open_at = greatest(c.last_open_at, l.last_open_at),
           last_click_at = greatest(c.last_click_at, l.last_click_at),
           opens_count = c.opens_count + l.opens,
           clicks_count = c.clicks_count + l.clicks
      FROM locked AS l
     WHERE c.workspace_id = l.workspace_id AND c.id = l.id
    """
)


def _upsert(
    table: str, keys: Sequence[tuple[str, str]], counters: Sequence[str], extra: str = ""
) -> Any:
    """`INSERT … SELECT FROM unnest(…) ORDER BY key ON CONFLICT DO UPDATE` adding the
    counters. Built once at import from the fixed column lists above."""
    columns = [name for name, _ in keys] + ([extra] if extra else []) + list(counters)
    arrays = [f"CAST(:{name} AS {kind}[])" for name, kind in keys]
    if extra:
        arrays.append(f"CAST(:{extra} AS text[])")
    arrays += [f"CAST(:{name} AS bigint[])" for name in counters]
    key_names = ", ".join(name for name, _ in keys)
    updates = [f"{name} = {table}.{name} + excluded.{name}" for name in counters]
    if extra:  # a URL learnt later fills one that was unknown
        updates.append(
            f"{extra} = CASE WHEN {table}.{extra} = '' THEN excluded.{extra} "
            f"ELSE {table}.{extra} END"
        )
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - fixed identifiers
        f"SELECT * FROM unnest({', '.join(arrays)}) AS u({', '.join(columns)}) "
        f"ORDER BY {key_names} "
        f"ON CONFLICT ({key_names}) DO UPDATE SET {', '.join(updates)}"
    )
    return text(sql)


_STATS_KEYS = (
    ("workspace_id", "uuid"),
    ("campaign_id", "uuid"),
    ("hour", "timestamptz"),
    ("variant", "text"),
)
_LINK_KEYS = (
    ("workspace_id", "uuid"),
    ("campaign_id", "uuid"),
    ("variant", "text"),
    ("link_index", "integer"),
)
_DOMAIN_KEYS = (("workspace_id", "uuid"), ("campaign_id", "uuid"), ("domain", "text"))
_UPSERT_STATS = _upsert("campaign_stats", _STATS_KEYS, CAMPAIGN_COUNTERS)
_UPSERT_LINKS = _upsert("campaign_link_stats", _LINK_KEYS, LINK_COUNTERS, extra="url")
_UPSERT_DOMAINS = _upsert("campaign_domain_stats", _DOMAIN_KEYS, DOMAIN_COUNTERS)

# Campaign totals for the live counters and the deliverability guard.
_TOTALS = text(
    """
    SELECT s.workspace_id, s.campaign_id, """  # noqa: S608 - fixed column names
    + ", ".join(f"sum(s.{name})::bigint AS {name}" for name in CAMPAIGN_COUNTERS)
    + """
      FROM campaign_stats AS s
      JOIN unnest(CAST(:workspace_ids AS uuid[]), CAST(:campaign_ids AS uuid[]))
           AS k(workspace_id, campaign_id)
        ON s.workspace_id = k.workspace_id AND s.campaign_id = k.campaign_id
     GROUP BY s.workspace_id, s.campaign_id
    """
)


def _event_data(item: Incoming) -> str:
    event = item.event
    data = {
        "ua": event.user_agent,
        "ip": event.ip,
        "bt": event.bounce_type.value if event.bounce_type else "",
        "code": event.code,
        "diag": event.diagnostic,
        "src": event.source,
        "ch": event.channel.value if event.channel else "",
        "r": event.reason,
        "lists": [item.hex for item in event.lists],
    }
    # JSONB can't hold U+0000, which a client may well send in its user agent.
    clean = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in data.items()}
    return json.dumps({k: v for k, v in clean.items() if v})


class AnalyticsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def resolve(
        self, delivery_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, DeliveryContext]:
        """The batch's deliveries by id, row-locked until the batch commits; ids that
        name no delivery (any more), or one locked by another transaction, are missing
        from the answer."""
        if not delivery_ids:
            return {}
        rows = await self.session.execute(_RESOLVE, {"ids": list(delivery_ids)})
        return {row[1]: DeliveryContext(*row) for row in rows}

    async def existing(self, delivery_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `delivery_ids` name a delivery (locked or not)."""
        if not delivery_ids:
            return set()
        found = await self.session.execute(_EXISTING, {"ids": list(delivery_ids)})
        return set(found.scalars())

    async def priors(self, items: Sequence[Incoming], burst: timedelta) -> dict[int, Prior]:
        """What is stored already about the messages of `items` (by position)."""
        if not items:
            return {}
        params = {
            "pos": list(range(len(items))),
            "workspace_ids": [i.context.workspace_id for i in items],
            "delivery_ids": [i.context.delivery_id for i in items],
            "kinds": [i.event.kind.value for i in items],
            "ats": [i.at for i in items],
            "links": [i.event.link_index for i in items],
            "bts": [i.event.bounce_type.value if i.event.bounce_type else None for i in items],
            "stream_ids": [i.stream_id for i in items],
            "template_ids": [i.context.template_id for i in items],
            "link_tables": [i.event.link_table for i in items],
            "sinces": [
                i.context.sent_at - PRIOR_MARGIN if i.context.sent_at else _EARLIEST for i in items
            ],
            "until": datetime.now(UTC) + PRIOR_MARGIN,
            "burst": burst,
        }
        rows = await self.session.execute(_PRIOR, params)
        return {
            pos: Prior(url=url, burst=burst, seen=seen, seen_human=seen_human)
            for pos, url, burst, seen, seen_human in rows
        }

    async def store_events(self, items: Sequence[Incoming]) -> set[str]:
        """Insert the batch's events; the stream ids of those stored now (the others
        were stored by an earlier delivery of the same entry)."""
        if not items:
            return set()
        first = new_uuid_run(len(items))
        params = {
            "workspace_ids": [i.context.workspace_id for i in items],
            "ats": [i.at for i in items],
            "ids": [uuid.UUID(int=first + n) for n in range(len(items))],
            "contact_ids": [i.context.contact_id for i in items],
            "campaign_ids": [i.context.campaign_id for i in items],
            "types": [i.event.kind.value for i in items],
            "delivery_ids": [i.context.delivery_id for i in items],
            "stream_ids": [i.stream_id for i in items],
            "machines": [i.machine for i in items],
            "links": [i.event.link_index for i in items],
            "variants": [i.context.variant or None for i in items],
            "data": [_event_data(i) for i in items],
        }
        return set((await self.session.execute(_INSERT_EVENTS, params)).scalars())

    async def apply(self, result: Tally) -> None:
        """Write a batch's tally: first engagement, rollups, contacts."""
        if result.firsts:
            keys = sorted(result.firsts)
            values = [result.firsts[k] for k in keys]
            await self.session.execute(
                _SET_FIRSTS,
                {
                    "workspace_ids": [k[0] for k in keys],
                    "ids": [k[1] for k in keys],
                    "open_ats": [v[0] for v in values],
                    "human_open_ats": [v[1] for v in values],
                    "click_ats": [v[2] for v in values],
                    "human_click_ats": [v[3] for v in values],
                },
            )
        await self._upsert(_UPSERT_STATS, _STATS_KEYS, CAMPAIGN_COUNTERS, result.stats)
        await self._upsert(
            _UPSERT_LINKS,
            _LINK_KEYS,
            LINK_COUNTERS,
            result.links,
            extra=("url", {k: result.link_urls.get(k, "") for k in result.links}),
        )
        await self._upsert(_UPSERT_DOMAINS, _DOMAIN_KEYS, DOMAIN_COUNTERS, result.domains)
        if result.contacts:
            people = sorted(result.contacts)
            engagement = [result.contacts[k] for k in people]
            await self.session.execute(
                _CONTACTS,
                {
                    "workspace_ids": [k[0] for k in people],
                    "ids": [k[1] for k in people],
                    "last_open_ats": [v[0] for v in engagement],
                    "last_click_ats": [v[1] for v in engagement],
                    "opens": [v[2] for v in engagement],
                    "clicks": [v[3] for v in engagement],
                },
            )

    async def _upsert(
        self,
        statement: Any,
        keys: Sequence[tuple[str, str]],
        counters: Sequence[str],
        rows: Mapping[Any, Mapping[str, int]],
        extra: tuple[str, Mapping[Any, str]] | None = None,
    ) -> None:
        if not rows:
            return
        ordered = sorted(rows)
        params: dict[str, list[Any]] = {
            name: [key[i] for key in ordered] for i, (name, _) in enumerate(keys)
        }
        if extra is not None:
            params[extra[0]] = [extra[1][key] for key in ordered]
        for name in counters:
            params[name] = [rows[key].get(name, 0) for key in ordered]
        await self.session.execute(statement, params)

    async def totals(self, campaigns: Iterable[CampaignKey]) -> dict[CampaignKey, dict[str, int]]:
        """Each campaign's counters summed over its hours and variants."""
        keys = sorted(set(campaigns))
        if not keys:
            return {}
        rows = await self.session.execute(
            _TOTALS,
            {"workspace_ids": [k[0] for k in keys], "campaign_ids": [k[1] for k in keys]},
        )
        return {
            (row.workspace_id, row.campaign_id): {
                name: int(getattr(row, name)) for name in CAMPAIGN_COUNTERS
            }
            for row in rows
        }


def event_time(at_ms: int) -> datetime:
    """An event's time from epoch milliseconds, in UTC."""
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC)


_OWNERS = text(
    """
    SELECT u.email
      FROM memberships AS m
      JOIN users AS u ON u.id = m.user_id
     WHERE m.workspace_id = :workspace_id AND m.role = 'owner' AND u.is_active
     ORDER BY u.email
    """
)


async def owner_addresses(session: AsyncSession, workspace_id: uuid.UUID) -> list[str]:
    """Where a notice to the workspace's owners goes."""
    return list((await session.execute(_OWNERS, {"workspace_id": workspace_id})).scalars())
