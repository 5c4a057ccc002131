"""SMTP faults through the whole pipeline: ledger, sender, the real composer and the SMTP
transport, against a local SMTP server that injects them.

For every fault: nothing is lost (every recipient of the audience ends in a final
state), each ends in the state docs/smtp.md and docs/campaigns.md promise, and nobody
gets the campaign twice — a message whose fate is `unknown` (dropped or timed out after
the final dot) reaches the server at most once, since it is never sent again.

Time is a test clock: when only deferred rows are left it moves forward to the latest
one's retry time, which shifts the ledger's timestamps back by that much (so rows come
due and the retry window runs out as if the time had passed) and moves the transport's
circuit breaker on by the same amount."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from maily.config import SenderSettings, Settings, SMTPSecurity
from maily.contacts.subscriptions import unsubscribe
from maily.delivery.composing import CampaignComposer
from maily.delivery.ledger import PENDING
from maily.delivery.sender import Sender
from maily.delivery.transports.smtp import SMTPServer, SMTPTransport
from maily.kit.db import transaction
from maily.kit.resilience import CircuitBreaker
from maily.models import Contact
from tests.conftest import make_settings
from tests.delivery.pipeline import SendingWorld
from tests.delivery.smtp_server import (
    Action,
    Drop,
    Hang,
    Reply,
    SMTPTestServer,
    Stage,
    Stall,
)

AUDIENCE = 24
# The recipients a matched fault hits: some of the audience, spread over the batches.
HIT = frozenset(f"reader{n}@inbox{n % 7}.test" for n in (3, 8, 14, 21))
PUBLIC_URL = "https://mail.springfield.test"
# Short enough to keep the hanging cases quick, long enough for a loaded machine.
SHORT_TIMEOUT = 1.0


def _address(n: int) -> str:
    return f"reader{n}@inbox{n % 7}.test"


AUDIENCE_ADDRESSES = frozenset(_address(n) for n in range(1, AUDIENCE + 1))


class TestClock:
    """Monotonic seconds for the circuit breaker, moved on by the test."""

    __test__ = False

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Pipeline:
    world: SendingWorld
    campaign_id: uuid.UUID
    server: SMTPTestServer
    transport: SMTPTransport
    sender: Sender
    clock: TestClock

    async def execute(self, sql: str, **params: Any) -> Any:
        async with transaction(self.world.sessionmaker) as session:
            return await session.execute(
                text(sql), {"w": self.world.workspace_id, "c": self.campaign_id, **params}
            )

    async def drain(self, limit: int = 50) -> None:
        """Batches until none is due; a row leased again and again fails the test."""
        for _ in range(limit):
            if not (await self.sender.run_batch()).leased:
                return
        raise AssertionError(f"still leasing after {limit} batches")

    async def advance_to_next_retry(self) -> float:
        """Let time pass until every deferred row is due; returns the seconds."""
        result = await self.execute(
            "SELECT coalesce(max(extract(epoch FROM send_after - now())), 0) FROM deliveries"
            " WHERE workspace_id = :w AND campaign_id = :c AND status = 'deferred'"
        )
        seconds = max(0.0, float(result.scalar_one())) + 0.001
        await self.execute(
            "UPDATE deliveries SET send_after = send_after - make_interval(secs => :s),"
            " first_attempt_at = first_attempt_at - make_interval(secs => :s)"
            " WHERE workspace_id = :w AND campaign_id = :c",
            s=seconds,
        )
        self.clock.now += seconds
        return seconds

    async def settle(self, rounds: int = 30) -> dict[str, int]:
        """Send until no row is pending, letting time pass for the deferred ones."""
        for _ in range(rounds):
            await self.drain()
            states = await self.world.delivery_states(self.campaign_id)
            if not states.keys() & {s.value for s in PENDING}:
                return states
            await self.advance_to_next_retry()
        raise AssertionError(f"the ledger did not settle: {states}")

    async def rows(self) -> dict[str, Any]:
        result = await self.execute(
            "SELECT d.email, d.status, d.attempts, d.last_code, d.last_detail,"
            " c.status AS contact_status,"
            " EXISTS (SELECT 1 FROM suppressions s WHERE s.workspace_id = d.workspace_id"
            "   AND s.kind = 'address' AND s.value = d.email AND s.reason = 'hard_bounce')"
            "   AS suppressed"
            " FROM deliveries d JOIN contacts c"
            "   ON c.workspace_id = d.workspace_id AND c.id = d.contact_id"
            " WHERE d.workspace_id = :w AND d.campaign_id = :c"
        )
        return {row.email: row for row in result}

    def accepted(self) -> Counter[str]:
        return Counter(self.server.recipients)

    def unacknowledged(self) -> Counter[str]:
        return Counter(r for m in self.server.unacknowledged for r in m.recipients)

    async def assert_nothing_is_sent_again(self) -> None:
        """Every row made due now: a sender finds nothing to send, the server nothing new."""
        before = (len(self.server.messages), len(self.server.unacknowledged))
        await self.execute(
            "UPDATE deliveries SET send_after = now() WHERE workspace_id = :w AND campaign_id = :c"
        )
        assert (await self.sender.run_batch()).leased == 0
        assert (len(self.server.messages), len(self.server.unacknowledged)) == before


@pytest.fixture
async def pipeline(
    sending_world: SendingWorld, database_url: str, redis_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[Pipeline]:
    options: dict[str, Any] = getattr(request, "param", {})
    settings = make_settings(database_url, redis_url, api={"public_url": PUBLIC_URL})
    await sending_world.add_contacts(AUDIENCE)
    campaign_id = await sending_world.begin_campaign()
    clock = TestClock()
    async with SMTPTestServer() as server:
        transport = SMTPTransport(
            SMTPServer(
                "127.0.0.1",
                server.port,
                security=SMTPSecurity.none,
                command_timeout=SHORT_TIMEOUT,
                data_timeout=SHORT_TIMEOUT,
            ),
            max_connections=3,
            breaker=CircuitBreaker("smtp:faults", cooldown_seconds=30.0, clock=clock),
        )
        sender = _sender(sending_world, settings, transport, **options)
        try:
            yield Pipeline(sending_world, campaign_id, server, transport, sender, clock)
        finally:
            await transport.aclose()


def _sender(
    world: SendingWorld, settings: Settings, transport: SMTPTransport, **options: Any
) -> Sender:
    return Sender(
        world.sessionmaker,
        CampaignComposer(settings, world.sessionmaker),
        transport,
        SenderSettings(
            **{"batch_size": 7, "retry_base_seconds": 1.0, "retry_max_seconds": 3600.0, **options}
        ),
        owner="faults-sender",
        # The full backoff every time: the retry sequence is 1, 2, 4, 8 … seconds.
        rand=lambda: 1.0,
    )


@dataclass(frozen=True)
class Fault:
    id: str
    stage: Stage
    action: Action
    # What the hit recipients' rows end as.
    expect: str
    # None: the fault hits the recipients in HIT (every time if `expect` is final,
    # once each if it is a transient fault). A number: the first that many
    # transactions at `stage`, whoever they are for.
    times: int | None = None
    code: int | None = None
    # Off: the server offers no PIPELINING, so the client waits for every reply.
    pipelining: bool = True

    def inject(self, server: SMTPTestServer) -> None:
        if self.times is not None:
            server.inject(self.stage, self.action, times=self.times)
            return
        for address in sorted(HIT):
            # A permanent fault keeps firing, so a resend would show (and fail again).
            server.inject(
                self.stage, self.action, match=address, times=1 if self.expect == "sent" else None
            )


FAULTS = [
    # Transient: deferred, retried after the backoff, then sent once.
    Fault("421-on-mail", "mail", Reply(421, "4.3.2 service shutting down"), "sent", times=3),
    Fault("451-on-rcpt", "rcpt", Reply(451, "4.7.1 greylisted, try later"), "sent"),
    Fault("452-on-rcpt", "rcpt", Reply(452, "4.2.2 mailbox full"), "sent"),
    Fault("451-after-body", "body", Reply(451, "4.3.0 local error in processing"), "sent"),
    Fault("452-after-body", "body", Reply(452, "4.3.1 insufficient storage"), "sent"),
    Fault("421-on-rcpt", "rcpt", Reply(421, "4.4.5 too many connections"), "sent"),
    Fault("421-after-body", "body", Reply(421, "4.3.2 shutting down"), "sent"),
    Fault("421-greeting", "connect", Reply(421, "4.3.2 busy, come back later"), "sent", times=2),
    Fault("dropped-at-connect", "connect", Drop(), "sent", times=3),
    Fault("dropped-at-ehlo", "ehlo", Drop(), "sent", times=2),
    Fault("dropped-before-mail", "mail", Drop(), "sent", times=3),
    Fault("dropped-after-rcpt", "data", Drop(), "sent"),
    Fault("timeout-on-rcpt", "rcpt", Hang(), "sent"),
    Fault("timeout-after-rcpt", "data", Hang(), "sent"),
    # Permanent, about the address: bounced, suppressed, contact bounced.
    Fault("550-user-unknown", "rcpt", Reply(550, "5.1.1 no such user"), "bounced", code=550),
    Fault("550-no-enhanced-code", "rcpt", Reply(550, "mailbox unavailable"), "bounced", code=550),
    Fault(
        "554-mailbox-disabled-after-body",
        "body",
        Reply(554, "5.2.1 mailbox disabled"),
        "bounced",
        code=554,
    ),
    # Permanent, not about the address: failed, nothing suppressed.
    Fault("550-relay-denied", "rcpt", Reply(550, "5.7.1 relay access denied"), "failed", code=550),
    Fault("554-on-data", "data", Reply(554, "5.7.1 transaction failed"), "failed", code=554),
    Fault(
        "554-content-after-body", "body", Reply(554, "5.6.0 content rejected"), "failed", code=554
    ),
    Fault("554-no-enhanced-code-after-body", "body", Reply(554, "rejected"), "failed", code=554),
    Fault(
        "550-on-mail-from", "mail", Reply(550, "5.7.1 sender rejected"), "failed", times=2, code=550
    ),
    # After the final dot: the server may have it. Unknown, never sent again.
    Fault("dropped-after-data", "body", Drop(), "unknown"),
    Fault("timeout-after-data", "body", Hang(), "unknown"),
    # The server stops reading the body: the end went out to the socket, so the
    # server may yet read it. Cautious: unknown, though the server never read it.
    Fault("stalled-during-body", "data", Stall(), "unknown"),
]
# The same conversations one command at a time.
FAULTS += [
    dataclasses.replace(fault, id=f"{fault.id}-no-pipelining", pipelining=False)
    for fault in FAULTS
    if fault.id
    in {
        "421-on-mail",
        "451-on-rcpt",
        "dropped-before-mail",
        "dropped-after-rcpt",
        "timeout-after-rcpt",
        "550-user-unknown",
        "554-on-data",
        "dropped-after-data",
    }
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
async def test_each_fault_ends_in_its_state_with_nothing_lost_or_sent_twice(
    pipeline: Pipeline, fault: Fault
) -> None:
    pipeline.server.pipelining = fault.pipelining
    fault.inject(pipeline.server)

    states = await pipeline.settle()

    # Nothing lost: every recipient of the audience has a final row.
    assert sum(states.values()) == AUDIENCE
    rows = await pipeline.rows()
    assert set(rows) == AUDIENCE_ADDRESSES
    for injected in pipeline.server.faults:
        assert injected.fired >= 1, f"the fault {injected} never fired"
    if fault.times is not None:
        assert pipeline.server.faults[0].fired == fault.times

    if fault.times is None:
        hit = set(HIT)
    elif fault.expect == "sent":
        hit = set()
    else:
        hit = {email for email, row in rows.items() if row.status != "sent"}
        assert len(hit) == fault.times
    for email, row in rows.items():
        expected = fault.expect if email in hit else "sent"
        assert row.status == expected, (email, row.status, row.last_detail)

    accepted, unacknowledged = pipeline.accepted(), pipeline.unacknowledged()
    # No duplicates: whoever the server accepted, it accepted once.
    assert max(accepted.values()) == 1
    for email, row in rows.items():
        if row.status == "sent":
            assert (accepted[email], unacknowledged[email]) == (1, 0), email
        elif row.status == "unknown":
            # Read in full and then silence: there once, never again (a stalled
            # server never read it).
            assert accepted[email] + unacknowledged[email] == int(fault.stage == "body"), email
            assert row.attempts == 1
        else:
            assert accepted[email] == unacknowledged[email] == 0, email
        if fault.code is not None and email in hit:
            assert row.last_code == fault.code, row.last_detail
        # Only a hard bounce suppresses the address and marks the contact.
        bounced = row.status == "bounced"
        assert row.suppressed is bounced, email
        assert row.contact_status == ("bounced" if bounced else "subscribed"), email
    if fault.expect == "sent" and fault.times is None:
        assert all(rows[email].attempts >= 2 for email in HIT), "a transient fault is retried"

    await pipeline.assert_nothing_is_sent_again()


@dataclass(frozen=True)
class Persistent:
    id: str
    stage: Stage
    action: Action


PERSISTENT = [
    Persistent("451-on-rcpt", "rcpt", Reply(451, "4.7.1 greylisted, try later")),
    Persistent("dropped-after-rcpt", "data", Drop()),
]


@pytest.mark.parametrize(
    "pipeline", [{"retry_base_seconds": 1.0, "retry_window_seconds": 20.0}], indirect=True
)
@pytest.mark.parametrize("fault", PERSISTENT, ids=[f.id for f in PERSISTENT])
async def test_a_deferral_that_keeps_happening_fails_once_the_retry_window_is_used_up(
    pipeline: Pipeline, fault: Persistent
) -> None:
    for address in sorted(HIT):
        pipeline.server.inject(fault.stage, fault.action, match=address)

    states = await pipeline.settle()

    assert states == {"sent": AUDIENCE - len(HIT), "failed": len(HIT)}
    rows = await pipeline.rows()
    # Retries at 0, 1, 3, 7 and 15 s; the fifth's backoff (16 s) ends past the 20 s window.
    for address in HIT:
        row = rows[address]
        assert row.status == "failed"
        assert row.attempts == 5
        assert row.last_detail.startswith("retry window exhausted after 5 attempts"), row
        assert not row.suppressed
        assert row.contact_status == "subscribed"
    assert [f.fired for f in pipeline.server.faults] == [5] * len(HIT)
    accepted = pipeline.accepted()
    assert set(accepted) == AUDIENCE_ADDRESSES - HIT
    assert max(accepted.values()) == 1
    await pipeline.assert_nothing_is_sent_again()


async def test_a_contact_unsubscribed_while_the_campaign_sends_gets_nothing_after_the_next_batch(
    pipeline: Pipeline,
) -> None:
    world = pipeline.world
    # The first batch goes out; then two contacts whose turn has not come leave.
    assert (await pipeline.sender.run_batch()).leased == 7
    first = set(pipeline.server.recipients)
    assert len(first) == 7
    # The next two in the order senders lease: both fall in the very next batch.
    waiting = await pipeline.execute(
        "SELECT email, contact_id FROM deliveries"
        " WHERE workspace_id = :w AND campaign_id = :c AND status = 'queued'"
        " ORDER BY send_after, id LIMIT 2"
    )
    (everything_email, everything_id), (list_email, list_id) = waiting.all()
    async with transaction(world.sessionmaker) as session:
        gone = await session.get(Contact, (world.workspace_id, everything_id))
        assert gone is not None
        assert await unsubscribe(
            session, workspace_id=world.workspace_id, contact=gone, list_id=None, channel="link"
        )
        left = await session.get(Contact, (world.workspace_id, list_id))
        assert left is not None
        assert await unsubscribe(
            session,
            workspace_id=world.workspace_id,
            contact=left,
            list_id=world.list_id,
            channel="one_click",
        )

    report = await pipeline.sender.run_batch()
    # The skipped count against the batch, like the rows sent.
    assert (report.skipped, report.leased) == (2, 5)
    assert not {everything_email, list_email} & set(pipeline.server.recipients)

    states = await pipeline.settle()
    assert states == {"sent": AUDIENCE - 2, "skipped": 2}
    rows = await pipeline.rows()
    assert rows[everything_email].status == rows[list_email].status == "skipped"
    accepted = pipeline.accepted()
    assert everything_email not in accepted
    assert list_email not in accepted
    assert set(accepted) == AUDIENCE_ADDRESSES - {everything_email, list_email}
    assert max(accepted.values()) == 1
    await pipeline.assert_nothing_is_sent_again()


async def test_a_relay_restart_between_batches_loses_and_repeats_nobody(
    pipeline: Pipeline,
) -> None:
    # The first batch leaves its sessions in the pool; the relay then cuts them all.
    assert (await pipeline.sender.run_batch()).leased == 7
    opened = pipeline.transport.connections_opened
    pipeline.server.drop_all()

    states = await pipeline.settle()

    assert states == {"sent": AUDIENCE}
    accepted = pipeline.accepted()
    assert set(accepted) == AUDIENCE_ADDRESSES
    assert max(accepted.values()) == 1
    # The cut sessions were noticed and replaced, not used.
    assert pipeline.transport.connections_opened > opened
    await pipeline.assert_nothing_is_sent_again()
