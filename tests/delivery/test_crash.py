"""A 50,000-recipient send whose `maily sender` process is killed with SIGKILL several
times: afterwards every recipient is settled, nobody is lost, and the duplicates the
SMTP server saw are at most the messages that were in flight at the kills.

Three processes: this test (the ledger, the checks), the SMTP sink
(`python -m tests.delivery.smtp_server`, logging each accepted message as a flushed
JSON line, so its record does not depend on the process under test), and one
`maily sender` at a time, started, killed and restarted by the test."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.api.state import AppState
from maily.delivery.dkim import DkimAlgorithm
from maily.kit.db import create_sessionmaker, transaction
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_SECRET_KEY
from tests.delivery.pipeline import SendingWorld, drop_sending_world, new_sending_world

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 50_000
# A kill each time the sink has accepted this share of the audience.
KILL_AT = (0.12, 0.34, 0.56, 0.78)
# Short, so a killed sender's rows come back within seconds.
LEASE_SECONDS = 4.0
PENDING = ("queued", "leased", "deferred")


async def wait_for(
    condition: Callable[[], Awaitable[bool]], timeout: float, describe: Callable[[], str]
) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds saying why."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {describe()}")
        await asyncio.sleep(0.05)  # polling a condition with a deadline


class SinkLog:
    """Reads the sink's JSON Lines log as it grows: each line one accepted message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.recipients: Counter[str] = Counter()
        self.message_ids: Counter[str] = Counter()
        self.messages = 0
        self._offset = 0
        self._partial = b""

    def read(self) -> int:
        """Take in what was appended since the last call; returns the message count."""
        with self.path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            entry = json.loads(line)
            self.messages += 1
            self.recipients.update(entry["recipients"])
            self.message_ids[entry["message_id"]] += 1
        return self.messages


class Processes:
    """The sink and the senders, each logging to its own file; all ended at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[asyncio.subprocess.Process] = []
        self.sink_port = 0

    async def start_sink(self, log: Path) -> None:
        sink = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.delivery.smtp_server",
            "--log",
            str(log),
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=(self.log_dir / "sink.log").open("wb"),
        )
        self.started.append(sink)
        assert sink.stdout is not None
        line = await asyncio.wait_for(sink.stdout.readline(), timeout=30)
        assert line.startswith(b"listening on "), line
        self.sink_port = int(line.decode().rsplit(":", 1)[1])

    def sender_env(self, database_url: str, redis_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILY_")}
        env.update(
            {
                "MAILY_ENVIRONMENT": "test",
                "MAILY_DATABASE_URL": database_url,
                "MAILY_REDIS_URL": redis_url,
                "MAILY_DATA_DIR": str(self.log_dir / "data"),
                "MAILY_STORAGE__LOCAL_PATH": str(self.log_dir / "objects"),
                # The DKIM key in the world was encrypted with the test key.
                "MAILY_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
                "MAILY_SECURITY__ENCRYPTION_KEYS": json.dumps([TEST_ENCRYPTION_KEY]),
                "MAILY_API__PUBLIC_URL": "https://mail.springfield.test",
                "MAILY_ROLES__HEALTH_BASE_PORT": "0",
                "MAILY_TRANSPORT": "smtp",
                "MAILY_SMTP__HOST": "127.0.0.1",
                "MAILY_SMTP__PORT": str(self.sink_port),
                "MAILY_SMTP__SECURITY": "none",
                "MAILY_SENDER__LEASE_SECONDS": str(LEASE_SECONDS),
                "MAILY_SENDER__POLL_INTERVAL_SECONDS": "0.2",
            }
        )
        return env

    async def start_sender(self, env: dict[str, str]) -> asyncio.subprocess.Process:
        log = self.log_dir / f"sender-{len(self.started)}.log"
        with log.open("wb") as out:
            sender = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "maily",
                "sender",
                # Not the repository: no stray .env may configure the process under test.
                cwd=self.log_dir,
                env=env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        self.started.append(sender)
        return sender

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-3000:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )

    async def end_all(self) -> None:
        for process in self.started:
            if process.returncode is None:
                process.kill()
                await process.wait()


@pytest.fixture
async def ed25519_world(engine: AsyncEngine, app_state: AppState) -> AsyncIterator[SendingWorld]:
    # What is tested is the ledger and the sender, not the signature (the end-to-end
    # test verifies RSA DKIM): an RSA-2048 signature costs about 1 ms of CPU here, a
    # third of the sender's work per message, so the send is signed with Ed25519.
    created = await new_sending_world(create_sessionmaker(engine), DkimAlgorithm.ed25519_sha256)
    try:
        yield created
    finally:
        await drop_sending_world(created)


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        await started.end_all()


async def count(world: SendingWorld, campaign_id: uuid.UUID, statuses: tuple[str, ...]) -> int:
    async with transaction(world.sessionmaker) as session:
        found = await session.execute(
            text(
                "SELECT count(*) FROM deliveries WHERE workspace_id = :w AND campaign_id = :c"
                " AND status = ANY(:s)"
            ),
            {"w": world.workspace_id, "c": campaign_id, "s": list(statuses)},
        )
        return int(found.scalar_one())


async def leased_ids(world: SendingWorld, campaign_id: uuid.UUID) -> set[str]:
    async with transaction(world.sessionmaker) as session:
        found = await session.execute(
            text(
                "SELECT id FROM deliveries WHERE workspace_id = :w AND campaign_id = :c"
                " AND status = 'leased'"
            ),
            {"w": world.workspace_id, "c": campaign_id},
        )
        return {str(delivery_id) for delivery_id in found.scalars()}


def delivery_id(message_id: str) -> str:
    """The ledger row a message came from: its Message-ID is `<delivery id@domain>`,
    the same on every attempt."""
    return message_id.strip("<>").split("@", 1)[0]


async def test_a_sender_killed_mid_send_loses_nobody_and_duplicates_only_what_was_in_flight(
    ed25519_world: SendingWorld,
    database_url: str,
    redis_url: str,
    processes: Processes,
    tmp_path: Path,
) -> None:
    world = ed25519_world
    await world.add_contacts(RECIPIENTS)
    campaign_id = await world.begin_campaign()
    started = time.monotonic()

    sink = SinkLog(tmp_path / "accepted.jsonl")
    sink.path.touch()
    await processes.start_sink(sink.path)
    env = processes.sender_env(database_url, redis_url)
    sender = await processes.start_sender(env)

    # Rows leased at a kill are exactly what the dead sender had in flight: no other
    # sender runs then, and only those rows can have reached the sink unrecorded.
    in_flight: list[set[str]] = []
    kill_times: list[str] = []
    for share in KILL_AT:
        target = int(RECIPIENTS * share)
        running = sender

        async def reached(
            target: int = target, running: asyncio.subprocess.Process = running
        ) -> bool:
            assert running.returncode is None, f"the sender died\n{processes.logs()}"
            return sink.read() >= target

        await wait_for(reached, 120, lambda: f"sink at {sink.messages}\n{processes.logs()}")
        os.kill(sender.pid, signal.SIGKILL)
        kill_times.append(f"{time.monotonic() - started:.0f}")
        await sender.wait()
        assert sender.returncode == -signal.SIGKILL
        in_flight.append(await leased_ids(world, campaign_id))
        assert sink.read() < RECIPIENTS, "the kill came after the send was over"
        sender = await processes.start_sender(env)

    pending = [RECIPIENTS]

    async def settled() -> bool:
        assert sender.returncode is None, f"the sender died\n{processes.logs()}"
        pending.append(await count(world, campaign_id, PENDING))
        return pending[-1] == 0

    await wait_for(settled, 180, lambda: f"{pending[-1]} pending\n{processes.logs()}")
    sender.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(sender.wait(), timeout=30) == 0, processes.logs()
    elapsed = time.monotonic() - started
    # The sink writes a message's line before it answers 250, and a row is recorded
    # sent only after that answer: the log is complete now.
    sink.read()
    errors = [
        line
        for path in sorted(tmp_path.glob("sender-*.log"))
        for line in path.read_text().splitlines()
        if '"level": "error"' in line
    ]
    assert not errors, "\n".join(line[:2000] for line in errors[:3])

    duplicates = sum(n - 1 for n in sink.recipients.values())
    bound = sum(len(rows) for rows in in_flight)
    states = await world.delivery_states(campaign_id)
    report = (
        f"{RECIPIENTS} recipients, {len(KILL_AT)} kills, {sink.messages} messages accepted: "
        f"{duplicates} duplicates, bound {bound} (in flight at each kill: "
        f"{[len(rows) for rows in in_flight]}); states {states}; "
        f"kills at {', '.join(kill_times)} s, all settled at {elapsed:.0f} s"
    )
    print(report)

    # Every row settled, and as sent: a kill cannot make one 'unknown' (the dead
    # sender records nothing, and its successor sees every reply), and this sink
    # never drops a connection after the final dot, which is what 'unknown' means.
    assert states == {"sent": RECIPIENTS}, report
    expected = {f"reader{n}@inbox{n % 7}.test" for n in range(1, RECIPIENTS + 1)}
    received = set(sink.recipients)
    assert not received - expected, "mail to someone outside the audience"
    lost = expected - received
    assert not lost, f"{len(lost)} recipients never got the campaign, e.g. {sorted(lost)[:5]}"

    assert duplicates <= bound, report
    # Sharper, per row: a message went out once, plus once more for each kill it was
    # in flight at (a row can be caught by two kills in a row); nothing else repeats.
    for message_id, copies in sink.message_ids.items():
        row = delivery_id(message_id)
        caught = sum(row in rows for rows in in_flight)
        assert copies <= 1 + caught, f"{row}: {copies} copies, in flight at {caught} kills"
    assert sum(n - 1 for n in sink.message_ids.values()) == duplicates, report
