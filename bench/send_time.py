"""Send-time optimisation on a simulated workspace: does the model find each contact's
hour, and how many more opens does sending then bring than sending everyone at 10:00?

The workspace: `--contacts` people in seven timezones, each with a hidden preferred
hour of the day drawn from a realistic mix (mornings, lunch, evenings, some anywhere),
a personal spread around it, and a base open rate (a fifth of them nearly dormant, so
plenty have few opens). For `--days` days the workspace sends a campaign on Mondays,
Wednesdays and Fridays at 08:00, 13:00 or 17:00 UTC in turn. A message is opened with
a probability that falls with the distance between its local send hour and the
contact's preferred hour; most opens happen when the person next reads mail (their
preferred hour ± their spread), the rest soon after it arrives; a third of opens bring
a click in the same hour.

The model sees only those opens and clicks, counted by local hour of the week — the
same counts `maily.ai.insights.repository` reads from PostgreSQL — and plans, with
the product's own functions (`maily.ai.insights.send_time`: workspace pattern,
smoothing, shrinkage, ε-greedy exploration included), one send window of 24 hours from
the Tuesday after the history. Then, with the same model of behaviour:

- `hit_rate`: share of contacts with at least 5 opens whose planned local hour is
  within ±1 h of their true preferred hour;
- `lift`: open rate when every contact gets the message at their planned time over
  the open rate when everyone gets it at 10:00 local, minus 1 (both simulated with the
  same random draws per contact, and as expectations: `expected_lift`); `oracle_lift`
  is the ceiling, everyone at their true hour.

No network; no database unless `--through-postgres`: then the simulated contacts and
events are loaded into a throwaway database made on MAILY_DATABASE_URL's server (and
dropped afterwards), the scheduler's own planner (`SendTimePlanner`, reading
PostgreSQL) plans the same window, and `postgres_plan_matches` is the share of contacts
it gives the same time as the in-memory run. Prints one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from maily.ai.insights.send_time import (
    HOURS_PER_DAY,
    hour_of_week,
    plan_time,
    uniforms,
    window_slots,
    workspace_pattern,
)
from maily.ai.insights.service import SendTimePlanner
from maily.config import Settings
from maily.kit.db import create_engine, create_sessionmaker, transaction
from maily.kit.db.migrate import upgrade
from maily.models import Campaign, Contact

ZONES = (
    ("America/New_York", 0.25),
    ("America/Los_Angeles", 0.15),
    ("Europe/London", 0.15),
    ("Europe/Berlin", 0.2),
    ("Asia/Kolkata", 0.1),
    ("Asia/Tokyo", 0.1),
    ("Australia/Sydney", 0.05),
)
# When people read mail: (share, mean hour, spread of the mean across people).
PREFERENCES = ((0.35, 8.0, 1.0), (0.2, 12.5, 0.8), (0.35, 20.0, 1.5))
SEND_DAYS = (0, 2, 4)  # Monday, Wednesday, Friday
SEND_HOURS_UTC = (8, 13, 17)
BASELINE_HOUR = 10
HISTORY_START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
WORKSPACE_ID = uuid.UUID("018f2a59-0000-7000-8000-0000000000b0")
CAMPAIGN_ID = uuid.UUID("018f2a59-0000-7000-8000-0000000000c0")
# The planner's seed for the campaign: the bench draws what the scheduler would.
SEED = f"send-time:{CAMPAIGN_ID}"


def contact_id(index: int) -> uuid.UUID:
    return uuid.UUID(int=(0x018F2A59 << 96) | index)


@dataclass(frozen=True, slots=True)
class Person:
    zone: str
    preferred: int  # hidden: the hour of the day they read mail
    spread: float  # hours
    base_rate: float  # open probability when sent at their preferred hour


def circular_distance(a: float, b: float) -> float:
    d = abs(a - b) % HOURS_PER_DAY
    return min(d, HOURS_PER_DAY - d)


def open_probability(person: Person, local_hour: float, weekday: int) -> float:
    """Falls with the distance from the preferred hour to a floor of half; a little
    lower at weekends."""
    d = circular_distance(local_hour, person.preferred)
    fit = 0.5 + 0.5 * math.exp(-(d**2) / (2 * 3.0**2))
    return person.base_rate * fit * (0.85 if weekday >= 5 else 1.0)


def people(n: int, rng: random.Random) -> list[Person]:
    zones = [z for z, _ in ZONES]
    zone_weights = [w for _, w in ZONES]
    found = []
    for _ in range(n):
        roll = rng.random()
        mean = None
        for share, hour, spread in PREFERENCES:
            if roll < share:
                mean = rng.gauss(hour, spread)
                break
            roll -= share
        preferred = round(mean) % 24 if mean is not None else rng.randrange(24)
        dormant = rng.random() < 0.2
        base = rng.uniform(0.01, 0.05) if dormant else rng.betavariate(3, 5)
        found.append(
            Person(rng.choices(zones, zone_weights)[0], preferred, rng.uniform(0.5, 1.5), base)
        )
    return found


Engagement = tuple[int, datetime, str]  # contact index, when (UTC), open or click


def history(
    crowd: list[Person], days: int, rng: random.Random
) -> tuple[list[dict[int, float]], list[int], list[Engagement]]:
    """Each contact's opens and clicks by local hour of the week, their open count, and
    every open and click as an event."""
    counts: list[dict[int, float]] = [{} for _ in crowd]
    opens = [0] * len(crowd)
    events: list[Engagement] = []
    zones = {z: ZoneInfo(z) for z, _ in ZONES}
    sends = [
        HISTORY_START + timedelta(days=d, hours=SEND_HOURS_UTC[i % len(SEND_HOURS_UTC)])
        for i, d in enumerate(d for d in range(days) if d % 7 in SEND_DAYS)
    ]
    for index, person in enumerate(crowd):
        zone = zones[person.zone]
        for sent in sends:
            local = sent.astimezone(zone)
            if rng.random() >= open_probability(person, local.hour, local.weekday()):
                continue
            if rng.random() < 0.75:
                # Read when they next read mail: their hour, give or take their spread.
                hour = round(person.preferred + rng.gauss(0, person.spread)) % 24
                wait = (hour - local.hour) % 24
                opened = local + timedelta(hours=wait, minutes=rng.randrange(60))
            else:
                opened = local + timedelta(minutes=rng.expovariate(1 / 40))
            opened = opened.astimezone(zone)  # the wall clock after any DST change
            how = hour_of_week(opened)
            counts[index][how] = counts[index].get(how, 0.0) + 1
            opens[index] += 1
            events.append((index, opened.astimezone(UTC), "open"))
            if rng.random() < 1 / 3:
                counts[index][how] += 1
                events.append((index, opened.astimezone(UTC), "click"))
    return counts, opens, events


def conninfo(url: str, database: str | None = None) -> str:
    plain = url.replace("postgresql+asyncpg://", "postgresql://").replace(
        "postgresql+psycopg://", "postgresql://"
    )
    if database is None:
        return plain
    head, _, query = plain.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


def load(url: str, crowd: list[Person], events: list[Engagement]) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO workspaces (id, name, slug, postal_address) VALUES (%s, 'Bench', %s, '')",
            (WORKSPACE_ID, f"bench-{WORKSPACE_ID.hex[:8]}"),
        )
        with conn.cursor().copy(
            "COPY contacts (workspace_id, id, email, timezone) FROM STDIN"
        ) as copy:
            for index, person in enumerate(crowd):
                copy.write_row(
                    (WORKSPACE_ID, contact_id(index), f"c{index}@example.com", person.zone)
                )
        with conn.cursor().copy(
            "COPY events (workspace_id, occurred_at, id, contact_id, type) FROM STDIN"
        ) as copy:
            for index, at, kind in events:
                copy.write_row((WORKSPACE_ID, at, uuid.uuid4(), contact_id(index), kind))
        conn.execute("ANALYZE contacts")
        conn.execute("ANALYZE events")


async def plan_through_postgres(url: str, start: datetime) -> dict[uuid.UUID, datetime]:
    """The scheduler's planner over the loaded workspace, as a campaign begins."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            campaign = Campaign(id=CAMPAIGN_ID, workspace_id=WORKSPACE_ID, timezone="UTC")
            audience = Contact.workspace_id == WORKSPACE_ID
            return await SendTimePlanner(session).plan(campaign, audience, start)
    finally:
        await engine.dispose()


def through_postgres(
    crowd: list[Person], events: list[Engagement], start: datetime, chosen: list[datetime]
) -> dict[str, Any]:
    server = Settings().database.url
    if not server:
        raise SystemExit("--through-postgres needs MAILY_DATABASE_URL")
    name = f"maily_bench_send_time_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        print(f"migrating and loading {name}", file=sys.stderr)
        upgrade(conninfo(server, name))
        began = time.perf_counter()
        load(conninfo(server, name), crowd, events)
        loaded_s = time.perf_counter() - began
        began = time.perf_counter()
        planned = asyncio.run(plan_through_postgres(conninfo(server, name), start))
        planned_s = time.perf_counter() - began
    finally:
        with psycopg.connect(conninfo(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    same = sum(planned.get(contact_id(i)) == at for i, at in enumerate(chosen))
    return {
        "postgres_plan_matches": round(same / len(chosen), 4),
        "postgres_events": len(events),
        "postgres_load_s": round(loaded_s, 2),
        "postgres_plan_s": round(planned_s, 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    began = time.perf_counter()
    crowd = people(args.contacts, rng)
    counts, opens, events = history(crowd, args.days, rng)
    simulated_s = time.perf_counter() - began

    began = time.perf_counter()
    pattern = workspace_pattern(counts)
    end = HISTORY_START + timedelta(days=args.days)
    start = end + timedelta(days=(1 - end.weekday()) % 7)  # the next Tuesday, 00:00 UTC
    chosen: list[datetime] = []
    for index, person in enumerate(crowd):
        slots = window_slots(start, person.zone)
        draws = uniforms(SEED, contact_id(index))
        chosen.append(plan_time(counts[index], pattern, slots, draws).at)
    planned_s = time.perf_counter() - began

    hits = scored = 0
    optimised = baseline = expected_optimised = expected_baseline = oracle = 0.0
    for index, person in enumerate(crowd):
        zone = ZoneInfo(person.zone)
        local = chosen[index].astimezone(zone)
        at_ten = (start.astimezone(zone) + timedelta(hours=24)).replace(
            hour=BASELINE_HOUR, minute=0
        )
        if opens[index] >= 5:
            scored += 1
            hits += circular_distance(local.hour, person.preferred) <= 1
        p_opt = open_probability(person, local.hour, local.weekday())
        p_base = open_probability(person, BASELINE_HOUR, at_ten.weekday())
        draw = rng.random()  # one draw per contact for both arms
        optimised += draw < p_opt
        baseline += draw < p_base
        expected_optimised += p_opt
        expected_baseline += p_base
        # The ceiling: everyone at their true hour (the model never sees it).
        oracle += open_probability(person, person.preferred, local.weekday())
    n = len(crowd)
    figures: dict[str, Any] = {
        "bench": "send_time",
        "contacts": n,
        "days": args.days,
        "contacts_with_5_opens": scored,
        "hit_rate": round(hits / scored, 4) if scored else None,
        "lift": round(optimised / baseline - 1, 4),
        "expected_lift": round(expected_optimised / expected_baseline - 1, 4),
        "oracle_lift": round(oracle / expected_baseline - 1, 4),
        "open_rate_optimised": round(optimised / n, 4),
        "open_rate_at_10": round(baseline / n, 4),
        "opens_in_history": sum(opens),
        "plan_ms_per_1000_contacts": round(planned_s * 1000 / n * 1000, 1),
        "simulate_s": round(simulated_s, 2),
        "seed": args.seed,
    }
    if args.through_postgres:
        figures |= through_postgres(crowd, events, start, chosen)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--through-postgres",
        action="store_true",
        help="also plan through the scheduler's planner over PostgreSQL (MAILY_DATABASE_URL)",
    )
    args = parser.parse_args()
    print(f"simulating {args.contacts} contacts over {args.days} days", file=sys.stderr)
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
