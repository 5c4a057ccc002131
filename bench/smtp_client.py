"""The SMTP transport alone: `--messages` finished ~11 KB messages (no composing, no
database) through `SMTPTransport` into Postfix's `smtp-sink` on loopback, in batches
of `--batch` from `--lanes` concurrent callers sharing `--connections` sessions, as a
sender process does. Prints one JSON line: messages a second, the client's CPU per
message (this process) and smtp-sink's. Installs Debian's postfix when smtp-sink is
missing."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from maily.config import SMTPSecurity
from maily.delivery.transports.base import Outcome, OutgoingMessage
from maily.delivery.transports.smtp import SMTPServer, SMTPTransport

sys.path.insert(0, str(Path(__file__).resolve().parent))
from send_throughput import SINK, cpu_seconds, ensure_postfix, free_port, smtp_sink

LINE = b"Hand-picked for the season, with free returns. See the offers inside.\r\n"


def batch(size: int) -> list[OutgoingMessage]:
    workspace = uuid.uuid4()
    data = b"Subject: Spring offers\r\nMIME-Version: 1.0\r\n\r\n" + LINE * 155
    messages = []
    for n in range(size):
        delivery = uuid.uuid4()
        messages.append(
            OutgoingMessage(
                delivery_id=delivery,
                workspace_id=workspace,
                envelope_from=f"b+{delivery.hex}@bounces.bench.test",
                recipient=f"user{n}@example.com",
                data=data,
                from_header="News <news@bench.test>",
                to_header=f"<user{n}@example.com>",
                subject="Spring offers",
                html=None,
                text="",
            )
        )
    return messages


async def run(args: argparse.Namespace, port: int, sink: psutil.Process) -> dict[str, Any]:
    transport = SMTPTransport(
        SMTPServer("127.0.0.1", port, SMTPSecurity.none, ehlo_name="bench.test"),
        max_connections=args.connections,
    )
    messages = batch(args.batch)
    rounds = max(1, args.messages // (args.batch * args.lanes))

    async def lane() -> None:
        for _ in range(rounds):
            results = await transport.send(messages)
            if any(r.outcome is not Outcome.sent for r in results):
                raise SystemExit(
                    f"not sent: {next(r for r in results if r.outcome is not Outcome.sent)}"
                )

    await transport.send(messages[: args.connections])  # the sessions open outside the timing
    me = psutil.Process(os.getpid())
    cpu, sink_cpu = cpu_seconds(me), cpu_seconds(sink)
    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(args.lanes)))
    elapsed = time.perf_counter() - started
    cpu, sink_cpu = cpu_seconds(me) - cpu, cpu_seconds(sink) - sink_cpu
    await transport.aclose()
    sent = rounds * args.lanes * args.batch
    return {
        "bench": "smtp_client",
        "messages": sent,
        "message_bytes": len(messages[0].data),
        "connections": args.connections,
        "msgs_per_s": round(sent / elapsed),
        "client_cpu_us_per_msg": round(cpu / sent * 1e6, 1),
        "sink_cpu_us_per_msg": round(sink_cpu / sent * 1e6, 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="messages per send() call")
    parser.add_argument("--lanes", type=int, default=4, help="concurrent send() callers")
    parser.add_argument("--connections", type=int, default=8, help="SMTP sessions")
    args = parser.parse_args()
    if shutil.which("apt-get") is None and not SINK.exists():
        raise SystemExit("smtp-sink is missing and apt-get is not here to install postfix")
    ensure_postfix()
    port = free_port()
    with smtp_sink(port) as sink:
        print(json.dumps(asyncio.run(run(args, port, psutil.Process(sink.pid)))))


if __name__ == "__main__":
    main()
