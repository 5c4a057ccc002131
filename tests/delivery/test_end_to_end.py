"""A campaign to 10,000 recipients through the whole pipeline — ledger, sender, the real
composer (stored template, sender identity, DKIM) and the SMTP transport — to a real
SMTP server on loopback."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage

import dkim
import pytest

from maily.config import SMTPSecurity
from maily.delivery.transports.smtp import SMTPServer, SMTPTransport
from tests.conftest import make_settings
from tests.delivery.pipeline import (
    POSTAL_ADDRESS,
    SendingWorld,
)
from tests.delivery.smtp_server import SMTPTestServer

pytestmark = pytest.mark.slow

RECIPIENTS = 10_000
PUBLIC_URL = "https://mail.springfield.test"


def _text_and_html(message: EmailMessage) -> tuple[str, str]:
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text_part is not None, "a text part"
    assert html_part is not None, "an HTML part"
    return text_part.get_content(), html_part.get_content()


async def test_every_recipient_gets_exactly_one_signed_compliant_message(
    sending_world: SendingWorld, database_url: str, redis_url: str
) -> None:
    world = sending_world
    # RFC 8058 wants the one-click URI on HTTPS, so Maily is reached over HTTPS here.
    settings = make_settings(database_url, redis_url, api={"public_url": PUBLIC_URL})
    await world.add_contacts(RECIPIENTS)
    campaign_id = await world.begin_campaign()
    async with SMTPTestServer() as server:
        transport = SMTPTransport(
            SMTPServer("127.0.0.1", server.port, security=SMTPSecurity.none), max_connections=4
        )
        sender = world.sender(settings, transport)
        try:
            while (await sender.run_batch()).leased:
                pass
        finally:
            await transport.aclose()
        assert await world.delivery_states(campaign_id) == {"sent": RECIPIENTS}
        received = list(server.messages)

    recipients = [r for message in received for r in message.recipients]
    assert len(recipients) == RECIPIENTS
    assert len(set(recipients)) == RECIPIENTS, "someone got the campaign twice"
    expected = {f"reader{n}@inbox{n % 7}.test" for n in range(1, RECIPIENTS + 1)}
    assert set(recipients) == expected

    for delivered in received:
        message = email.message_from_bytes(delivered.data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        (recipient,) = delivered.recipients
        assert message["To"].addresses[0].addr_spec == recipient
        text, html = _text_and_html(message)
        first_name = "Reader" + recipient.removeprefix("reader").split("@")[0]
        assert message["Subject"] == f"Spring is here, {first_name}"
        assert f"Hello {first_name}," in text
        assert POSTAL_ADDRESS in text
        assert POSTAL_ADDRESS in html

        # RFC 8058: an HTTPS URI in List-Unsubscribe, the one-click POST header, and
        # both covered by a valid DKIM signature.
        unsubscribe = message["List-Unsubscribe"]
        https = re.findall(r"<(https://[^>]+)>", unsubscribe)
        assert len(https) == 1, unsubscribe
        assert "<mailto:" in unsubscribe
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert https[0].startswith(f"{PUBLIC_URL}/u/")
        assert https[0] in html, "the unsubscribe link in the body is the header's"
        signature = message["DKIM-Signature"]
        signed = re.search(r"h=([^;]+)", re.sub(r"\s+", "", str(signature)))
        assert signed is not None
        covered = {name.lower() for name in signed.group(1).split(":")}
        assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject"} <= covered
        assert dkim.verify(delivered.data, dnsfunc=world.dnsfunc), f"DKIM fails for {recipient}"

        # Tracked links point at Maily's click endpoint, never at the shop directly.
        assert "https://shop.example.com" not in html
        assert html.count(f"{PUBLIC_URL}/t/c/") == 2
        assert message["Message-ID"]
        assert delivered.envelope_from.startswith("bounces+")
