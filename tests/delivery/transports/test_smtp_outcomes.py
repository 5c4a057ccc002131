"""SMTP transport: every way a transaction can end maps to the right outcome, nothing
lost, nothing sent twice; against a real SMTP server with injected faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from maily.delivery.transports.base import Outcome
from maily.delivery.transports.smtp import Reply as ClientReply
from maily.delivery.transports.smtp import SMTPTransport, classify_failure
from tests.delivery.smtp_server import Drop, Hang, Reply, SMTPTestServer, Stall
from tests.delivery.transports.support import outgoing, plain_transport


@pytest.fixture(params=[True, False], ids=["pipelining", "lockstep"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[SMTPTestServer]:
    async with SMTPTestServer(pipelining=request.param) as server:
        yield server


@pytest.fixture
async def transport(server: SMTPTestServer) -> AsyncIterator[SMTPTransport]:
    # One connection, so faults in a batch hit a session that must carry on after them.
    transport = plain_transport(server, max_connections=1)
    yield transport
    await transport.aclose()


def addresses(count: int, domain: str = "example.com") -> list[str]:
    return [f"user{i}@{domain}" for i in range(count)]


async def test_a_batch_is_sent_once_each(server: SMTPTestServer, transport: SMTPTransport) -> None:
    messages = [outgoing(rcpt) for rcpt in addresses(25)]

    results = await transport.send(messages)

    assert [r.outcome for r in results] == [Outcome.sent] * 25
    assert all(r.code == 250 and r.provider_message_id for r in results)
    assert server.recipients == addresses(25)
    assert [m.data for m in server.messages] == [m.data for m in messages]
    assert [m.envelope_from for m in server.messages] == [m.envelope_from for m in messages]


async def test_dot_stuffing_keeps_the_body_intact(
    server: SMTPTestServer, transport: SMTPTransport
) -> None:
    body = b".starts with a dot\r\n.\r\n..\r\nmiddle . dot\r\n."  # no final CRLF either
    message = outgoing("dots@example.com", body=body)

    [result] = await transport.send([message])

    assert result.outcome is Outcome.sent
    # The server undoes the stuffing; the client added the missing final CRLF.
    assert server.messages[0].data == message.data + b"\r\n"


@pytest.mark.parametrize("code", [421, 450, 451, 452])
async def test_4xx_on_rcpt_defers_only_that_message(
    server: SMTPTestServer, transport: SMTPTransport, code: int
) -> None:
    rcpts = addresses(6)
    server.inject("rcpt", Reply(code, "4.2.0 try later"), match=rcpts[2])

    results = await transport.send([outgoing(r) for r in rcpts])

    assert results[2].outcome is Outcome.deferred
    assert results[2].code == code
    assert [r.outcome for i, r in enumerate(results) if i != 2] == [Outcome.sent] * 5
    assert server.recipients == rcpts[:2] + rcpts[3:]
    # 421 means the server is closing the session: the rest went over a new one.
    assert len(server.sessions) == (2 if code == 421 else 1)


@pytest.mark.parametrize(
    ("code", "text", "outcome"),
    [
        (550, "5.1.1 no such user", Outcome.bounced),
        (550, "no such user", Outcome.bounced),
        (552, "5.2.2 mailbox full", Outcome.bounced),
        (553, "5.1.3 bad address syntax", Outcome.bounced),
        (554, "5.7.1 relay access denied", Outcome.failed),
    ],
)
async def test_5xx_on_rcpt(
    server: SMTPTestServer, transport: SMTPTransport, code: int, text: str, outcome: Outcome
) -> None:
    rcpts = addresses(4)
    server.inject("rcpt", Reply(code, text), match=rcpts[1])

    results = await transport.send([outgoing(r) for r in rcpts])

    assert results[1].outcome is outcome
    assert results[1].code == code
    assert text in results[1].detail
    assert [r.outcome for r in (results[0], *results[2:])] == [Outcome.sent] * 3
    assert server.recipients == [rcpts[0], *rcpts[2:]]
    # The refused transaction was reset, on the same session, before the next one.
    assert len(server.sessions) == 1
    assert "RSET" in server.sessions[0].commands


async def test_refusals_on_mail_from(server: SMTPTestServer, transport: SMTPTransport) -> None:
    messages = [outgoing(r) for r in addresses(3)]
    server.inject("mail", Reply(451, "4.3.0 try later"), match=messages[0].envelope_from)
    server.inject("mail", Reply(553, "5.7.1 sender not allowed"), match=messages[1].envelope_from)

    results = await transport.send(messages)

    assert [r.outcome for r in results] == [Outcome.deferred, Outcome.failed, Outcome.sent]
    assert server.recipients == [messages[2].recipient]


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (Reply(554, "5.7.1 message content rejected"), Outcome.failed),
        (Reply(554, "rejected"), Outcome.failed),
        (Reply(552, "5.3.4 message too big"), Outcome.failed),
        (Reply(550, "5.1.1 unknown user"), Outcome.bounced),
        (Reply(451, "4.7.1 greylisted"), Outcome.deferred),
    ],
)
async def test_replies_to_the_message_body(
    server: SMTPTestServer, transport: SMTPTransport, reply: Reply, outcome: Outcome
) -> None:
    rcpts = addresses(3)
    server.inject("body", reply, match=rcpts[0])

    results = await transport.send([outgoing(r) for r in rcpts])

    assert results[0].outcome is outcome
    assert results[0].code == reply.code
    assert [r.outcome for r in results[1:]] == [Outcome.sent] * 2
    assert server.recipients == rcpts[1:]


async def test_5xx_on_the_data_command_is_failed(
    server: SMTPTestServer, transport: SMTPTransport
) -> None:
    rcpts = addresses(2)
    server.inject("data", Reply(554, "5.6.0 no"), match=rcpts[0])

    results = await transport.send([outgoing(r) for r in rcpts])

    assert [r.outcome for r in results] == [Outcome.failed, Outcome.sent]
    assert server.recipients == rcpts[1:]


@pytest.mark.parametrize(
    ("stage", "outcome"),
    [
        # Before MAIL was answered, and after RCPT (on DATA): the server has nothing.
        ("mail", Outcome.deferred),
        ("data", Outcome.deferred),
        # After the whole message was read, before the reply: it may have it.
        ("body", Outcome.unknown),
    ],
)
async def test_connection_dropped(
    server: SMTPTestServer, transport: SMTPTransport, stage: str, outcome: Outcome
) -> None:
    messages = [outgoing(r) for r in addresses(5)]
    victim = messages[2]
    match = victim.envelope_from if stage == "mail" else victim.recipient
    server.inject(stage, Drop(), match=match)  # type: ignore[arg-type]

    results = await transport.send(messages)

    assert results[2].outcome is outcome
    assert [r.outcome for i, r in enumerate(results) if i != 2] == [Outcome.sent] * 4
    # Nothing lost: the others went out over a fresh session; nothing duplicated.
    assert server.recipients == [m.recipient for i, m in enumerate(messages) if i != 2]
    assert len(server.sessions) == 2
    if outcome is Outcome.unknown:
        assert [m.recipients for m in server.unacknowledged] == [(victim.recipient,)]
    else:
        assert server.unacknowledged == []


@pytest.mark.parametrize(
    ("action", "outcome"),
    [
        (Drop(), Outcome.unknown),
        (Hang(), Outcome.unknown),
        (Reply(421, "4.3.2 shutting down"), Outcome.deferred),
    ],
    ids=["dropped", "silent", "421"],
)
async def test_the_message_behind_a_lost_final_dot_goes_once_over_a_new_session(
    action: Drop | Hang | Reply, outcome: Outcome
) -> None:
    # With pipelining, the next message's envelope went out with the victim's final
    # dot; that session ends before answering it, so the next message must go over
    # a new session, once, and nothing else may be lost.
    async with SMTPTestServer(pipelining=True) as server:
        transport = plain_transport(server, max_connections=1, data_timeout=0.3)
        messages = [outgoing(r) for r in addresses(4)]
        server.inject("body", action, match=messages[1].recipient)

        results = await transport.send(messages)
        await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.sent, outcome, Outcome.sent, Outcome.sent]
    assert server.recipients == [messages[i].recipient for i in (0, 2, 3)]
    assert server.sessions[0].envelopes_behind_dot == 1
    # The first session read no command after the victim's body; the second carried
    # the rest.
    assert [s.commands.count("MAIL") for s in server.sessions] == [2, 2]


@pytest.mark.parametrize(
    ("stage", "outcome"),
    [("mail", Outcome.deferred), ("rcpt", Outcome.deferred), ("body", Outcome.unknown)],
)
async def test_server_stops_answering(server: SMTPTestServer, stage: str, outcome: Outcome) -> None:
    transport = plain_transport(server, max_connections=1, command_timeout=0.3, data_timeout=0.3)
    messages = [outgoing(r) for r in addresses(3)]
    match = messages[1].envelope_from if stage == "mail" else messages[1].recipient
    server.inject(stage, Hang(), match=match)  # type: ignore[arg-type]

    results = await transport.send(messages)
    await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.sent, outcome, Outcome.sent]
    assert server.recipients == [messages[0].recipient, messages[2].recipient]


async def test_body_not_fully_written_is_deferred(server: SMTPTestServer) -> None:
    # The server answers 354 and stops reading: a body far larger than the socket
    # buffers can't be handed over, so the final dot never left this host.
    transport = plain_transport(server, max_connections=1, data_timeout=0.5)
    body = (b"y" * 998 + b"\r\n") * 40_000  # 40 MB
    messages = [outgoing("big@example.com", body=body), outgoing("next@example.com")]
    server.inject("data", Stall(), match="big@example.com")

    results = await transport.send(messages)
    await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.deferred, Outcome.sent]
    assert server.recipients == ["next@example.com"]
    assert server.unacknowledged == []


async def test_connection_refused_defers_everything(server: SMTPTestServer) -> None:
    transport = plain_transport(server, max_connections=2)
    await server.stop()

    results = await transport.send([outgoing(r) for r in addresses(4)])
    await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.deferred] * 4
    assert "connecting" in results[0].detail


async def test_greeting_refused_defers(server: SMTPTestServer, transport: SMTPTransport) -> None:
    server.inject("connect", Reply(421, "4.3.2 too busy"), times=1)

    results = await transport.send([outgoing(r) for r in addresses(2)])

    # The worker gave up on its connection; nothing was sent, so all can be retried.
    assert [r.outcome for r in results] == [Outcome.deferred] * 2
    assert results[0].code == 421
    assert server.messages == []


async def test_a_refused_batch_member_is_reset_and_the_rest_continue(
    server: SMTPTestServer, transport: SMTPTransport
) -> None:
    rcpts = addresses(8)
    server.inject("rcpt", Reply(550, "5.1.1 gone"), match=rcpts[1])
    server.inject("rcpt", Reply(452, "4.5.3 too many"), match=rcpts[4])
    server.inject("body", Reply(554, "5.7.1 spam"), match=rcpts[6])

    results = await transport.send([outgoing(r) for r in rcpts])

    assert [r.outcome for r in results] == [
        Outcome.sent,
        Outcome.bounced,
        Outcome.sent,
        Outcome.sent,
        Outcome.deferred,
        Outcome.sent,
        Outcome.failed,
        Outcome.sent,
    ]
    assert server.recipients == [rcpts[i] for i in (0, 2, 3, 5, 7)]
    # Each accepted message had exactly its own recipient: no envelope leaked over.
    assert all(len(m.recipients) == 1 for m in server.messages)
    assert len(server.sessions) == 1


async def test_eight_bit_and_utf8_need_the_extensions() -> None:
    async with SMTPTestServer(eightbitmime=True, smtputf8=True) as capable:
        transport = plain_transport(capable)
        results = await transport.send(
            [
                outgoing("ascii@example.com", body="Grüße\r\n".encode()),
                outgoing("jürgen@example.com"),
            ]
        )
        await transport.aclose()
        assert [r.outcome for r in results] == [Outcome.sent, Outcome.sent]
        params = {m.recipients[0]: m.mail_params for m in capable.messages}
        # The UTF-8 address is in the To: header too, so that message is 8-bit as well.
        assert params == {
            "ascii@example.com": ("BODY=8BITMIME",),
            "jürgen@example.com": ("BODY=8BITMIME", "SMTPUTF8"),
        }

    async with SMTPTestServer(eightbitmime=False, smtputf8=False) as plain:
        transport = plain_transport(plain)
        results = await transport.send(
            [
                outgoing("ascii@example.com", body="Grüße\r\n".encode()),
                outgoing("jürgen@example.com"),
                outgoing("fine@example.com"),
            ]
        )
        await transport.aclose()
        assert [r.outcome for r in results] == [Outcome.failed, Outcome.failed, Outcome.sent]
        assert plain.recipients == ["fine@example.com"]


async def test_messages_over_the_size_limit_fail_without_being_sent() -> None:
    async with SMTPTestServer(size=2000) as server:
        transport = plain_transport(server)
        results = await transport.send(
            [outgoing("big@example.com", body=b"z" * 3000 + b"\r\n"), outgoing("ok@example.com")]
        )
        await transport.aclose()

    assert [r.outcome for r in results] == [Outcome.failed, Outcome.sent]
    assert server.recipients == ["ok@example.com"]
    assert server.unacknowledged == []


async def test_envelope_injection_is_refused(
    server: SMTPTestServer, transport: SMTPTransport
) -> None:
    [result] = await transport.send([outgoing("a@example.com>\r\nRCPT TO:<b@example.com")])

    assert result.outcome is Outcome.failed
    assert server.messages == []


async def test_421_on_mail_defers_and_moves_to_a_new_session(
    server: SMTPTestServer, transport: SMTPTransport
) -> None:
    messages = [outgoing(r) for r in addresses(3)]
    server.inject("mail", Reply(421, "4.3.2 shutting down"), match=messages[1].envelope_from)

    results = await transport.send(messages)

    assert [r.outcome for r in results] == [Outcome.sent, Outcome.deferred, Outcome.sent]
    assert results[1].code == 421
    assert server.recipients == [messages[0].recipient, messages[2].recipient]
    assert len(server.sessions) == 2


@pytest.mark.parametrize("stage", ["connect", "ehlo", "data"])
async def test_silence_before_the_body_is_deferred(server: SMTPTestServer, stage: str) -> None:
    transport = plain_transport(server, max_connections=1, connect_timeout=0.3, command_timeout=0.3)
    server.inject(stage, Hang(), times=1)  # type: ignore[arg-type]

    results = await transport.send([outgoing("a@example.com"), outgoing("b@example.com")])
    await transport.aclose()

    # The first message met the silence; nothing can have been accepted. Whether
    # the second got through depends on where the silence was: never twice.
    assert results[0].outcome is Outcome.deferred
    assert server.recipients.count("a@example.com") == 0
    assert server.recipients.count("b@example.com") == (results[1].outcome is Outcome.sent)
    assert server.unacknowledged == []


async def test_a_cancelled_send_leaves_no_half_used_session(server: SMTPTestServer) -> None:
    transport = plain_transport(server, max_connections=1, command_timeout=30)
    server.inject("rcpt", Hang(), match="stuck@example.com", times=1)
    sending = asyncio.ensure_future(transport.send([outgoing("stuck@example.com")]))
    await server.wait_until(lambda: any("RCPT" in s.commands for s in server.sessions))
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending

    # The session that was mid-transaction is gone; the next send uses a new one.
    results = await transport.send([outgoing("next@example.com")])
    await transport.aclose()
    assert results[0].outcome is Outcome.sent
    assert len(server.sessions) == 2
    assert server.recipients == ["next@example.com"]


@pytest.mark.parametrize(
    ("code", "text", "stage", "outcome"),
    [
        (450, "4.2.1 busy", "rcpt", Outcome.deferred),
        (550, "5.1.1 unknown", "rcpt", Outcome.bounced),
        (550, "5.4.4 no route", "rcpt", Outcome.bounced),
        (550, "5.7.1 relaying denied", "rcpt", Outcome.failed),
        (530, "5.7.0 authentication required", "mail", Outcome.failed),
        (554, "5.6.0 content", "body", Outcome.failed),
        (552, "5.2.2 over quota", "body", Outcome.bounced),
        (554, "transaction failed", "body", Outcome.failed),
        (550, "no such user", "rcpt", Outcome.bounced),
        (600, "nonsense", "rcpt", Outcome.deferred),
    ],
)
def test_classify_failure(code: int, text: str, stage: str, outcome: Outcome) -> None:
    reply = ClientReply(code, (f"{code} {text}".encode(),))
    result = classify_failure(reply, stage)  # type: ignore[arg-type]
    assert result.outcome is outcome
    assert result.code == code
    assert text in result.detail


def test_multiline_reply_text() -> None:
    reply = ClientReply(550, (b"550-5.1.1 first line", b"550 5.1.1 second line"))
    assert reply.text == "550 5.1.1 first line 5.1.1 second line"
    assert reply.enhanced == (5, 1, 1)
