"""SpamAssassin scores rendered campaigns through a real spamd."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from maily.ai.checks.spam import SpamdClient, message_to_check, parse_report
from maily.ai.contracts import SpamCheckUnavailable
from maily.templates.compiler import compile_template
from tests.ai.checks.spamd import Spamd
from tests.ports import free_port

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

CLEAN_MJML = """<mjml><mj-body><mj-section><mj-column>
<mj-text>Hello {{ contact.first_name }},</mj-text>
<mj-text>Our December newsletter: the new reading room opens on Monday, and the
winter lecture series starts the week after. We hope to see you there.</mj-text>
<mj-button href="https://example.com/lectures">See the programme</mj-button>
<mj-text>You get this because you subscribed at example.com.
<a href="{{ unsubscribe_url }}">Unsubscribe</a>. 1 Main St, Springfield</mj-text>
</mj-column></mj-section></mj-body></mjml>"""

SPAMMY_MJML = f"""<mjml><mj-body><mj-section><mj-column>
<mj-text>ACT NOW!!! 100% FREE MONEY!!! Click here to claim your PRIZE!!!</mj-text>
<mj-text>{GTUBE}</mj-text>
<mj-text><a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"""


def rendered(mjml: str, subject: str) -> bytes:
    compiled = compile_template(mjml, "mjml", subject=subject)
    message = compiled.render(
        {"contact": {"first_name": "Ada"}, "unsubscribe_url": "https://example.com/u/x"},
        click_url=lambda i: compiled.links[i],
    )
    return message_to_check(
        subject=message.subject,
        html=message.html,
        text=message.text,
        from_email="news@example.com",
        workspace_id=uuid.uuid4(),
    )


async def test_a_clean_campaign_scores_below_the_threshold(spamd: Spamd) -> None:
    client = SpamdClient(spamd.host, spamd.port, timeout_seconds=60)
    report = await client.check(rendered(CLEAN_MJML, "Our December newsletter"))
    assert report.threshold == 5.0
    assert not report.is_spam
    assert report.score < report.threshold
    assert all(rule.name != "GTUBE" for rule in report.rules)
    assert report.score == pytest.approx(sum(rule.score for rule in report.rules), abs=0.05)


async def test_a_spammy_campaign_is_spam_with_the_rules_it_hit(spamd: Spamd) -> None:
    client = SpamdClient(spamd.host, spamd.port, timeout_seconds=60)
    report = await client.check(rendered(SPAMMY_MJML, "FREE MONEY!!! ACT NOW"))
    assert report.is_spam
    assert report.score >= 1000
    gtube = report.rules[0]
    assert gtube.name == "GTUBE"
    assert gtube.score == 1000
    assert "Unsolicited Bulk Email" in gtube.description
    # Highest first, and each rule's own points add up to the score.
    assert [r.score for r in report.rules] == sorted((r.score for r in report.rules), reverse=True)
    assert report.score == pytest.approx(sum(rule.score for rule in report.rules), abs=0.05)


async def test_several_checks_at_once_share_one_spamd(spamd: Spamd) -> None:
    client = SpamdClient(spamd.host, spamd.port, timeout_seconds=60)
    clean, spammy = rendered(CLEAN_MJML, "News"), rendered(SPAMMY_MJML, "FREE")
    reports = await asyncio.gather(*(client.check(m) for m in (clean, spammy, clean)))
    assert [r.is_spam for r in reports] == [False, True, False]


async def test_nobody_listening_is_unavailable() -> None:
    client = SpamdClient("127.0.0.1", free_port(), timeout_seconds=5)
    with pytest.raises(SpamCheckUnavailable, match="cannot be reached"):
        await client.check(b"Subject: hi\r\n\r\nhello\r\n")


async def test_a_server_that_never_answers_times_out() -> None:
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # keeps the connection open, answers nothing
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = SpamdClient("127.0.0.1", port, timeout_seconds=0.3)
        with pytest.raises(SpamCheckUnavailable, match=r"did not answer within 0\.3 s"):
            await client.check(b"Subject: hi\r\n\r\nhello\r\n")
        assert accepted.is_set()
    finally:
        server.close()
        await server.wait_closed()


async def test_an_error_status_is_unavailable() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SPAMD/1.0 76 Bad header line: (EOF)\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(SpamCheckUnavailable, match="76 Bad header line"):
            await SpamdClient("127.0.0.1", port).check(b"Subject: hi\r\n\r\nhello\r\n")
    finally:
        server.close()
        await server.wait_closed()


def test_wrapped_descriptions_are_joined() -> None:
    report = """Content analysis details:   (3.1 points, 5.0 required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
 0.1 MISSING_MID            Missing Message-Id: header
 3.0 URIBL_BLACK            Contains an URL listed in the URIBL blacklist
                            [URIs: bad.example]
-0.0 NO_RELAYS              Informational: message was not relayed via SMTP

"""
    rules = parse_report(report)
    assert [(r.name, r.score) for r in rules] == [
        ("URIBL_BLACK", 3.0),
        ("MISSING_MID", 0.1),
        ("NO_RELAYS", 0.0),
    ]
    assert rules[0].description == (
        "Contains an URL listed in the URIBL blacklist [URIs: bad.example]"
    )
