"""SMTP transport sessions: TLS, AUTH, pooling, pipelining, the breaker and pacing."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from maily.config import SMTPSecurity, SMTPSettings
from maily.delivery.transports.base import Outcome, Transport
from maily.delivery.transports.smtp import SMTPTransport
from maily.kit.resilience import BreakerState, CircuitBreaker
from tests.delivery.certificates import SelfSignedCertificate, make_certificate
from tests.delivery.smtp_server import Hang, Reply, SMTPTestServer
from tests.delivery.transports.support import outgoing, plain_transport


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCertificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def rcpts(count: int) -> list[str]:
    return [f"r{i}@example.com" for i in range(count)]


async def test_is_a_transport() -> None:
    async with SMTPTestServer() as server:
        transport = plain_transport(server)
        assert isinstance(transport, Transport)
        assert transport.name == "smtp"
        assert await transport.send([]) == []
        await transport.aclose()


async def test_starttls_with_auth(certificate: SelfSignedCertificate) -> None:
    async with SMTPTestServer(
        starttls=certificate.server_context(), users={"app": "s3cret"}, require_auth=True
    ) as server:
        transport = plain_transport(
            server,
            security=SMTPSecurity.starttls,
            ssl_context=certificate.client_context(),
            username="app",
            password="s3cret",
        )
        results = await transport.send([outgoing(r) for r in rcpts(3)])
        await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.sent] * 3
    assert all(m.tls and m.user == "app" for m in server.messages)
    # EHLO again after the upgrade, as RFC 3207 requires.
    assert server.sessions[0].commands[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"]


async def test_implicit_tls(certificate: SelfSignedCertificate) -> None:
    async with SMTPTestServer(implicit_tls=certificate.server_context()) as server:
        transport = plain_transport(
            server, security=SMTPSecurity.tls, ssl_context=certificate.client_context()
        )
        results = await transport.send([outgoing("tls@example.com")])
        await transport.aclose()

    assert results[0].outcome is Outcome.sent
    assert server.messages[0].tls


async def test_an_untrusted_certificate_is_refused(
    certificate: SelfSignedCertificate, tmp_path: Path
) -> None:
    stranger = make_certificate(tmp_path)
    async with SMTPTestServer(starttls=certificate.server_context()) as server:
        transport = plain_transport(
            server, security=SMTPSecurity.starttls, ssl_context=stranger.client_context()
        )
        results = await transport.send([outgoing("x@example.com")])
        await transport.aclose()

    assert results[0].outcome is Outcome.deferred
    assert "handshake" in results[0].detail or "certificate" in results[0].detail.lower()
    assert server.messages == []


async def test_starttls_required_but_not_offered() -> None:
    async with SMTPTestServer() as server:
        transport = plain_transport(server, security=SMTPSecurity.starttls)
        results = await transport.send([outgoing("x@example.com")])
        await transport.aclose()

    assert results[0].outcome is Outcome.deferred
    assert "STARTTLS" in results[0].detail
    assert server.messages == []


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_auth_mechanisms(mechanism: str) -> None:
    async with SMTPTestServer(
        users={"app": "pw"}, auth_mechanisms=(mechanism,), require_auth=True
    ) as server:
        good = plain_transport(server, username="app", password="pw")
        bad = plain_transport(server, username="app", password="wrong")
        sent = await good.send([outgoing("a@example.com")])
        refused = await bad.send([outgoing("b@example.com")])
        await good.aclose()
        await bad.aclose()

    assert sent[0].outcome is Outcome.sent
    assert refused[0].outcome is Outcome.deferred
    assert refused[0].code == 535
    assert server.recipients == ["a@example.com"]


async def test_many_messages_over_few_connections() -> None:
    async with SMTPTestServer() as server:
        transport = plain_transport(server, max_connections=4)
        first = await transport.send([outgoing(r) for r in rcpts(200)])
        second = await transport.send([outgoing(r) for r in rcpts(40)])
        # Concurrent sends share the same four connections.
        batches = await asyncio.gather(
            *(transport.send([outgoing(r) for r in rcpts(30)]) for _ in range(3))
        )
        await transport.aclose()

    results = first + second + [r for batch in batches for r in batch]
    assert [r.outcome for r in results] == [Outcome.sent] * 330
    assert len(server.messages) == 330
    assert len(server.sessions) == 4
    assert transport.connections_opened == 4
    # aclose said goodbye on every pooled session.
    assert all(session.commands[-1] == "QUIT" for session in server.sessions)


async def test_reconnects_after_messages_per_connection() -> None:
    async with SMTPTestServer() as server:
        transport = plain_transport(server, max_connections=1, messages_per_connection=10)
        results = await transport.send([outgoing(r) for r in rcpts(45)])
        await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.sent] * 45
    assert len(server.sessions) == 5
    assert [len([m for m in server.messages if m.session == s.id]) for s in server.sessions] == [
        10,
        10,
        10,
        10,
        5,
    ]


async def test_pipelining_is_used_when_offered_and_only_then() -> None:
    async with SMTPTestServer(pipelining=True) as offered:
        transport = plain_transport(offered, max_connections=1)
        await transport.send([outgoing(r) for r in rcpts(20)])
        await transport.aclose()
    async with SMTPTestServer(pipelining=False) as absent:
        transport = plain_transport(absent, max_connections=1)
        await transport.send([outgoing(r) for r in rcpts(20)])
        await transport.aclose()

    # Every envelope (MAIL + RCPT + DATA) arrived in one read.
    assert offered.pipelined_reads >= 20
    assert absent.pipelined_reads == 0
    assert len(offered.messages) == len(absent.messages) == 20


async def test_the_next_envelope_goes_out_with_the_final_dot() -> None:
    async with SMTPTestServer(pipelining=True) as offered:
        transport = plain_transport(offered, max_connections=1, messages_per_connection=8)
        results = await transport.send([outgoing(r) for r in rcpts(20)])
        await transport.aclose()
    async with SMTPTestServer(pipelining=False) as absent:
        transport = plain_transport(absent, max_connections=1)
        await transport.send([outgoing(r) for r in rcpts(5)])
        await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.sent] * 20
    assert offered.recipients == rcpts(20)
    # Sessions of 8, 8 and 4 messages: one round trip a message after each first,
    # and nothing written ahead into a session about to be closed.
    assert [s.envelopes_behind_dot for s in offered.sessions] == [7, 7, 3]
    assert [s.commands.count("MAIL") for s in offered.sessions] == [8, 8, 4]
    assert all(s.commands[-1] == "QUIT" for s in offered.sessions)
    assert absent.sessions[0].envelopes_behind_dot == 0


async def test_paced_sending_writes_no_envelope_ahead() -> None:
    # The next message may have to wait for its token: its envelope must not sit
    # in a session meanwhile.
    async with SMTPTestServer() as server:
        transport = plain_transport(server, max_connections=1, rate_per_second=1000)
        results = await transport.send([outgoing(r) for r in rcpts(5)])
        await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.sent] * 5
    assert server.sessions[0].envelopes_behind_dot == 0


async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async with SMTPTestServer() as server:
        transport = plain_transport(server, max_connections=1)
        await transport.send([outgoing("before@example.com")])
        # Whether or not the client has noticed the close yet, the message must go
        # out over a new session rather than be deferred.
        server.drop_all()
        results = await transport.send([outgoing("after@example.com")])
        await transport.aclose()

    assert results[0].outcome is Outcome.sent
    assert server.recipients == ["before@example.com", "after@example.com"]
    assert len(server.sessions) == 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_breaker_opens_when_the_server_is_down_and_closes_when_it_is_back() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("smtp:test", failure_threshold=3, cooldown_seconds=30, clock=clock)
    server = SMTPTestServer()
    await server.start()
    transport = plain_transport(server, max_connections=1, breaker=breaker)
    await server.stop()

    for _ in range(3):
        results = await transport.send([outgoing("x@example.com")])
        assert results[0].outcome is Outcome.deferred
    assert breaker.state is BreakerState.open

    # Back up, but the breaker is open: deferred at once, no connection attempted.
    await server.start()
    results = await transport.send([outgoing(r) for r in rcpts(5)])
    assert [r.outcome for r in results] == [Outcome.deferred] * 5
    assert "circuit breaker" in results[0].detail
    assert results[0].retry_after == pytest.approx(30)
    assert server.sessions == []

    # After the cooldown one trial connection goes through and closes the breaker.
    clock.now += 30
    assert breaker.state is BreakerState.half_open
    results = await transport.send([outgoing(r) for r in rcpts(5)])
    assert [r.outcome for r in results] == [Outcome.sent] * 5
    assert breaker.state is BreakerState.closed
    await transport.aclose()
    await server.stop()


async def test_a_failed_trial_opens_the_breaker_again() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("smtp:trial", failure_threshold=1, cooldown_seconds=10, clock=clock)
    async with SMTPTestServer() as server:
        transport = plain_transport(server, breaker=breaker)
        server.inject("connect", Reply(421, "4.3.2 down"))
        await transport.send([outgoing("a@example.com")])
        assert breaker.state is BreakerState.open
        clock.now += 10
        results = await transport.send([outgoing(r) for r in rcpts(4)])
        await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.deferred] * 4
    assert breaker.state is BreakerState.open
    # One trial connection, not one per message.
    assert len(server.sessions) == 2


async def test_timeouts_count_against_the_breaker() -> None:
    breaker = CircuitBreaker("smtp:timeouts", failure_threshold=2, cooldown_seconds=60)
    async with SMTPTestServer() as server:
        transport = plain_transport(server, breaker=breaker, command_timeout=0.2)
        server.inject("mail", Hang())
        results = await transport.send([outgoing(r) for r in rcpts(2)])
        await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.deferred] * 2
    assert breaker.state is BreakerState.open


async def test_per_recipient_refusals_do_not_trip_the_breaker() -> None:
    breaker = CircuitBreaker("smtp:refusals", failure_threshold=2)
    async with SMTPTestServer() as server:
        transport = plain_transport(server, breaker=breaker, max_connections=1)
        server.inject("rcpt", Reply(550, "5.1.1 gone"))
        results = await transport.send([outgoing(r) for r in rcpts(5)])
        await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.bounced] * 5
    assert breaker.state is BreakerState.closed


async def test_rate_per_second_paces_sending() -> None:
    async with SMTPTestServer() as server:
        transport = plain_transport(server, max_connections=4, rate_per_second=40)
        started = time.monotonic()
        results = await transport.send([outgoing(r) for r in rcpts(60)])
        elapsed = time.monotonic() - started
        await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.sent] * 60
    # A burst of 40, then 40 a second: the last 20 can't go out before half a second.
    assert elapsed >= 0.5


async def test_aclose_lets_running_sends_finish() -> None:
    async with SMTPTestServer() as server:
        transport = plain_transport(server, max_connections=2)
        sending = asyncio.ensure_future(transport.send([outgoing(r) for r in rcpts(50)]))
        await asyncio.sleep(0)
        await transport.aclose()
        results = await sending
        after = await transport.send([outgoing("late@example.com")])

    assert [r.outcome for r in results] == [Outcome.sent] * 50
    assert after[0].outcome is Outcome.deferred
    assert len(server.messages) == 50


async def test_from_settings(certificate: SelfSignedCertificate) -> None:
    async with SMTPTestServer(
        starttls=certificate.server_context(), users={"u": "p"}, require_auth=True
    ) as server:
        settings = SMTPSettings(
            host="127.0.0.1",
            port=server.port,
            security=SMTPSecurity.starttls,
            username="u",
            password=SecretStr("p"),
            tls_ca_file=certificate.cert_file,
            ehlo_name="mta.maily.test",
            max_connections=2,
            messages_per_connection=3,
        )
        transport = SMTPTransport.from_settings(settings)
        results = await transport.send([outgoing(r) for r in rcpts(6)])
        await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.sent] * 6
    assert all(m.tls and m.user == "u" for m in server.messages)
    assert transport.max_connections == 2
    assert len(server.sessions) >= 2


def test_settings_defaults() -> None:
    assert SMTPSettings(security=SMTPSecurity.tls).effective_port == 465
    assert SMTPSettings(security=SMTPSecurity.starttls).effective_port == 587
    assert SMTPSettings(security=SMTPSecurity.none).effective_port == 25
    assert SMTPSettings(port=2525).effective_port == 2525
    with pytest.raises(ValueError, match="HOST"):
        SMTPTransport.from_settings(SMTPSettings())


async def test_the_server_runs_as_its_own_process(tmp_path: Path) -> None:
    log = tmp_path / "accepted.jsonl"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.delivery.smtp_server",
        "--log",
        str(log),
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[3],
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        port = int(line.rsplit(":", 1)[1])
        server = SMTPTestServer(port=port)  # only to build a transport to that port
        transport = plain_transport(server)
        messages = [outgoing(r) for r in rcpts(3)]
        results = await transport.send(messages)
        await transport.aclose()
    finally:
        process.kill()
        await process.wait()

    assert [r.outcome for r in results] == [Outcome.sent] * 3
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    # Sent over parallel sessions: the order is theirs, the set must be exact.
    assert sorted((e["recipients"][0], e["message_id"]) for e in logged) == sorted(
        (m.recipient, dict(m.headers)["Message-ID"]) for m in messages
    )
