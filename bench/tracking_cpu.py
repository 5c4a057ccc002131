"""CPU per open and click request inside the tracking app, in one process, no HTTP
server: the real `TrackingApp` and context (token check, machine rules, the batcher
on the real Redis of MAILY_REDIS_URL) called with ASGI scopes the way granian calls
it, `--connections` requests at a time, timed with `time.process_time()`. Also the
open path with its event taken and dropped in-process (what the request costs apart
from the batcher and Redis) and the bare pixel; and the open, click and bare paths
again through `__rsgi__`, the interface `maily tracking` serves them on (the scope and
protocol reduced to what those endpoints read and call). These figures move far less
from run to run than `tracking.py`'s, whose server shares the cores with wrk and
Redis, so a change to the request path can be judged by them first. Prints one JSON
line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import uvloop
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from maily.config import Settings
from maily.tracking.app import TrackingApp
from maily.tracking.links import link_table_id, publish_link_table
from maily.tracking.server import build_context

LINKS = [f"https://shop.example.com/spring/item-{n}?utm_source=mail" for n in range(20)]
USER_AGENT = b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1"


def scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(b"host", b"t.example.com"), (b"user-agent", USER_AGENT), (b"accept", b"*/*")],
        "client": ("203.0.113.7", 52044),
    }


@dataclass(frozen=True)
class RSGIScope:
    """What the endpoints read of granian's RSGI scope."""

    path: str
    method: str = "GET"
    client: str = "203.0.113.7:52044"
    headers: dict[str, str] = field(
        default_factory=lambda: {"host": "t.example.com", "user-agent": USER_AGENT.decode()}
    )


class RSGIProtocol:
    """What the open and click endpoints call on granian's RSGI protocol."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.statuses.append(status)


async def measure_rsgi(
    app: TrackingApp, paths: list[str], requests: int, connections: int
) -> float:
    """`measure` through `__rsgi__`, the way `maily tracking` serves."""
    protocol = RSGIProtocol()
    scopes = [RSGIScope(path) for path in paths]

    async def connection(first: int) -> None:
        for n in range(first, requests, connections):
            await app.__rsgi__(scopes[n % len(scopes)], protocol)

    started = time.process_time()
    await asyncio.gather(*(connection(n) for n in range(connections)))
    spent = time.process_time() - started
    bad = [status for status in protocol.statuses if status not in (200, 302)]
    if bad or len(protocol.statuses) != requests:
        raise SystemExit(
            f"{len(bad)} of {len(protocol.statuses)} requests answered {sorted(set(bad))}"
        )
    return round(spent * 1e6 / requests, 2)


async def measure(
    app: TrackingApp, scopes: list[dict[str, Any]], requests: int, connections: int
) -> float:
    """CPU µs per request over `requests`, `connections` at a time."""
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def connection(first: int) -> None:
        for n in range(first, requests, connections):
            await app(scopes[n % len(scopes)], receive, send)

    started = time.process_time()
    await asyncio.gather(*(connection(n) for n in range(connections)))
    spent = time.process_time() - started
    bad = [status for status in statuses if status not in (200, 302)]
    if bad:
        raise SystemExit(f"{len(bad)} requests were answered {sorted(set(bad))}")
    return round(spent * 1e6 / requests, 2)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=5_000)
    args = parser.parse_args()
    redis_url = os.environ.get("MAILY_REDIS_URL")
    if not redis_url:
        raise SystemExit("MAILY_REDIS_URL must name a Redis server (a scratch database)")
    os.environ.setdefault("MAILY_ENVIRONMENT", "test")
    os.environ.setdefault("MAILY_SECURITY__SECRET_KEY", "bench-tracking-secret-key-" + "x" * 32)
    os.environ.setdefault(
        "MAILY_SECURITY__ENCRYPTION_KEYS", json.dumps([Fernet.generate_key().decode()])
    )
    stream_key = f"maily:bench:tracking-cpu:{uuid.uuid4().hex[:8]}"
    os.environ["MAILY_ANALYTICS__STREAM_KEY"] = stream_key
    settings = Settings()
    redis = Redis.from_url(redis_url, max_connections=32)
    context = build_context(settings, redis, None)
    app = TrackingApp(context, bare_endpoint=True)
    table = link_table_id(uuid.uuid4(), uuid.uuid4(), 1, LINKS)
    prefix = settings.tracking.link_table_key_prefix
    await publish_link_table(redis, table, LINKS, prefix)
    await context.links.url(table, 0)  # in this process's cache, as after the first click
    deliveries = [uuid.uuid4() for _ in range(args.tokens)]
    open_paths = [f"/t/o/{context.signer.sign_open(d)}.gif" for d in deliveries]
    click_paths = [
        f"/t/c/{context.signer.sign_click(d, n % len(LINKS), table)}"
        for n, d in enumerate(deliveries)
    ]
    opens = [scope(path) for path in open_paths]
    clicks = [scope(path) for path in click_paths]
    try:
        figures: dict[str, Any] = {"bench": "tracking_cpu", "requests": args.requests}
        await measure(app, opens, args.requests // 10, args.connections)  # warm-up
        figures["open_cpu_us"] = await measure(app, opens, args.requests, args.connections)
        figures["click_cpu_us"] = await measure(app, clicks, args.requests, args.connections)
        figures["rsgi_open_cpu_us"] = await measure_rsgi(
            app, open_paths, args.requests, args.connections
        )
        figures["rsgi_click_cpu_us"] = await measure_rsgi(
            app, click_paths, args.requests, args.connections
        )
        batcher = context.batcher
        await batcher.drain()  # opens and clicks answer before Redis has their events
        figures["events_per_round_trip"] = round(batcher.events / max(1, batcher.round_trips), 1)
        stored = await redis.xlen(stream_key)
        expected = args.requests // 10 + 4 * args.requests
        if stored != expected:
            raise SystemExit(f"{stored} stream entries for {expected} requests")
        figures["stream_entries"] = stored

        def taken(entry: bytes, arguments: int, kind: str) -> bool:
            return True

        batcher.offer = taken  # type: ignore[method-assign]
        figures["open_no_stream_cpu_us"] = await measure(
            app, opens, args.requests, args.connections
        )
        figures["bare_cpu_us"] = await measure(
            app, [scope("/t/bare")], args.requests, args.connections
        )
        figures["rsgi_bare_cpu_us"] = await measure_rsgi(
            app, ["/t/bare"], args.requests, args.connections
        )
        figures["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        await redis.delete(stream_key, prefix + table.hex)
        await redis.aclose()
    print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(uvloop.run(main()))
