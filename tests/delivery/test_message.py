"""Built messages parse, carry the headers receivers look for, and verify with dkimpy."""

from __future__ import annotations

import email
import re
import uuid
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import dkim
import pytest

from maily.delivery.dkim import DkimAlgorithm, DkimKey, DkimSigner, dns_record, generate_key
from maily.delivery.message import (
    MessageBuilder,
    MessageError,
    build_message,
    encode_text,
    outgoing_message,
)
from maily.delivery.transports.base import OutgoingMessage
from maily.delivery.verp import Verp

DOMAIN = "news.example.com"
RETURN_PATH = "bounces.news.example.com"
SELECTOR = "mly202612ab12"
WORKSPACE = uuid.UUID("0190e7a2-0000-7000-8000-00000000000a")
CAMPAIGN = uuid.UUID("0190e7a2-0000-7000-8000-00000000000c")
VERP = Verp("a test secret of some length........")

HTML = (
    "<html><body><h1>Grüße, Zoë!</h1><p>Price: 5 € = 5 EUR</p>"
    + "<p>x</p>" * 300
    + "</body></html>"
)
TEXT = "Grüße, Zoë!\n\nPrice: 5 € = 5 EUR   \nA line ending in spaces.\n"


@pytest.fixture(scope="module", params=list(DkimAlgorithm), ids=lambda a: a.value)
def key(request: pytest.FixtureRequest) -> DkimKey:
    return generate_key(request.param)


@pytest.fixture(scope="module")
def builder(key: DkimKey) -> MessageBuilder:
    return MessageBuilder(
        from_email="hello@news.example.com",
        from_name="Ærø Travel, Ltd.",
        reply_to="support@example.com",
        sending_domain=DOMAIN,
        return_path_domain=RETURN_PATH,
        workspace_id=WORKSPACE,
        verp=VERP,
        signer=DkimSigner(DOMAIN, SELECTOR, key.private_key_pem),
        campaign_id=CAMPAIGN,
        list_id="weekly",
        list_name="Weekly news",
        unsubscribe_url="https://maily.example/u/{token}",
    )


def build(builder: MessageBuilder, **overrides: object) -> OutgoingMessage:
    options: dict[str, object] = {
        "recipient": "zoe@example.org",
        "recipient_name": "Zoë Ünal",
        "subject": "Grüße aus München — your weekly news",
        "html": HTML,
        "text": TEXT,
        "delivery_id": uuid.UUID("0190e7a2-0000-7000-8000-0000000000d1"),
        "unsubscribe_token": "tok_123-abc",
    }
    options.update(overrides)
    return builder.build(**options)  # type: ignore[arg-type]


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def verifies(data: bytes, key: DkimKey) -> bool:
    record = dns_record(key.algorithm, key.public_key).encode()
    return bool(
        dkim.verify(data, dnsfunc=lambda name, timeout=5: record if b"_domainkey" in name else None)
    )


def signed_header_names(data: bytes) -> list[str]:
    signature = parse(data)["DKIM-Signature"]
    h = re.search(r"h=([^;]+);", "".join(str(signature).split()))
    assert h is not None
    return h.group(1).split(":")


def test_message_parses_with_both_parts(builder: MessageBuilder) -> None:
    message = parse(build(builder).data)
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    # Decoded parts keep MIME's CRLF line ends.
    assert plain.get_content() == TEXT.replace("\n", "\r\n")
    assert html.get_content().rstrip("\r\n") == HTML
    assert plain.get_content_charset() == "utf-8"
    # Non-ASCII text goes base64 (fast, and not the ASCII-in-base64 spam filters flag).
    assert plain["Content-Transfer-Encoding"] == "base64"


def test_headers(builder: MessageBuilder) -> None:
    out = build(builder)
    message = parse(out.data)
    assert message["From"].addresses[0].display_name == "Ærø Travel, Ltd."
    assert message["From"].addresses[0].addr_spec == "hello@news.example.com"
    assert message["To"].addresses[0].display_name == "Zoë Ünal"
    assert message["Reply-To"] == "support@example.com"
    assert message["Subject"] == "Grüße aus München — your weekly news"
    assert message["Message-ID"] == f"<{out.delivery_id}@{DOMAIN}>"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["MIME-Version"] == "1.0"
    assert message["List-Id"] == "Weekly news <weekly.news.example.com>"
    assert message["Feedback-ID"] == f"{CAMPAIGN}:{WORKSPACE}:maily"
    assert message["List-Unsubscribe"] == (
        f"<https://maily.example/u/tok_123-abc>, <mailto:unsubscribe+tok_123-abc@{RETURN_PATH}>"
    )


def test_rfc8058_one_click(builder: MessageBuilder, key: DkimKey) -> None:
    out = build(builder)
    message = parse(out.data)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    uris = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    assert any(uri.startswith("https://") for uri in uris)
    names = signed_header_names(out.data)
    assert "list-unsubscribe" in names
    assert "list-unsubscribe-post" in names
    assert verifies(out.data, key)


def test_signature_verifies_and_covers_what_readers_see(
    builder: MessageBuilder, key: DkimKey
) -> None:
    out = build(builder)
    assert verifies(out.data, key)
    names = signed_header_names(out.data)
    for name in ("from", "to", "subject", "date", "message-id", "reply-to", "list-id"):
        assert name in names
    start = out.data.index(b"base64\r\n\r\n") + 12
    flipped = b"B" if out.data[start : start + 1] != b"B" else b"C"
    assert not verifies(out.data[:start] + flipped + out.data[start + 1 :], key)
    assert not verifies(out.data.replace(b"tok_123-abc", b"tok_999-abc", 1), key)


def test_wire_format(builder: MessageBuilder) -> None:
    one_line_html = "<p>" + "word " * 2000 + "</p>"  # 10 kB on one line
    data = build(builder, html=one_line_html, text="ascii only\nand short lines\n").data
    assert data.count(b"\n") == data.count(b"\r\n"), "every line ends in CRLF"
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert data.isascii()
    message = parse(data)
    html = message.get_body(("html",))
    plain = message.get_body(("plain",))
    assert html is not None
    assert plain is not None
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    assert html.get_content().rstrip("\n") == one_line_html
    assert plain["Content-Transfer-Encoding"] == "7bit"


def test_header_injection_is_neutralised(builder: MessageBuilder, key: DkimKey) -> None:
    out = build(
        builder,
        subject="Hello\r\nBcc: victim@example.net",
        recipient_name="Bob\r\nX-Injected: yes",
    )
    message = parse(out.data)
    assert message["Bcc"] is None
    assert message["X-Injected"] is None
    assert "Bcc" in message["Subject"]  # kept as text, on one line
    assert verifies(out.data, key)
    with pytest.raises(MessageError):
        build(builder, recipient="bob@example.org\r\nBcc: victim@example.net")
    with pytest.raises(MessageError):
        build(builder, recipient="not an address")


def test_long_ascii_subject_is_folded_without_losing_spaces(builder: MessageBuilder) -> None:
    subject = "Our  biggest sale of the year starts today, and these are the deals " * 3
    subject = subject.strip()
    out = build(builder, subject=subject)
    head = out.data.split(b"\r\n\r\n", 1)[0]
    written = head.split(b"\r\nSubject:", 1)[1].split(b"\r\nDate:", 1)[0]
    assert b"=?utf-8?" not in written
    assert all(len(line) <= 78 for line in (b"Subject:" + written).split(b"\r\n"))
    assert parse(out.data)["Subject"] == subject


def test_encode_text() -> None:
    assert encode_text("Plain subject") == "Plain subject"
    encoded = encode_text("ü" * 100)
    assert all(len(word) <= 75 for word in encoded.split())
    assert "\r\n " in encoded
    # ASCII that looks like an encoded word is encoded, so it reads as written.
    assert encode_text("=?utf-8?q?x?=").startswith("=?utf-8?b?")


def test_single_part_messages(builder: MessageBuilder, key: DkimKey) -> None:
    text_only = parse(build(builder, html=None).data)
    assert text_only.get_content_type() == "text/plain"
    assert text_only.get_content() == TEXT.replace("\n", "\r\n")
    out = build(builder, text=None)
    html_only = parse(out.data)
    assert html_only.get_content_type() == "text/html"
    assert verifies(out.data, key)
    with pytest.raises(MessageError, match="text part"):
        build(builder, html=None, text=None)


def test_outgoing_message_fields(builder: MessageBuilder) -> None:
    out = build(builder)
    assert out.recipient == "zoe@example.org"
    assert out.workspace_id == WORKSPACE
    assert out.subject == "Grüße aus München — your weekly news"
    assert out.html == HTML
    assert out.text == TEXT
    assert out.from_header == '"Ærø Travel, Ltd." <hello@news.example.com>'
    assert out.to_header == "Zoë Ünal <zoe@example.org>"
    names = [name for name, _ in out.headers]
    assert names == [
        "Message-ID",
        "Reply-To",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "List-Id",
        "Feedback-ID",
    ]
    assert out.metadata == {
        "workspace_id": str(WORKSPACE),
        "campaign_id": str(CAMPAIGN),
        "delivery_id": str(out.delivery_id),
    }


def test_envelope_sender_is_a_signed_verp_address(builder: MessageBuilder) -> None:
    out = build(builder)
    assert out.envelope_from.startswith("bounces+")
    assert out.envelope_from.endswith("@" + RETURN_PATH)
    assert VERP.parse(out.envelope_from) == out.delivery_id
    test_send = build(builder, delivery_id=None)
    assert test_send.envelope_from == f"bounces@{RETURN_PATH}"
    assert parse(test_send.data)["Message-ID"].endswith(f"@{DOMAIN}>")


def test_boundaries_differ_per_message(builder: MessageBuilder) -> None:
    first, second = parse(build(builder).data), parse(build(builder).data)
    assert first.get_boundary() != second.get_boundary()


def test_international_recipient_domain(builder: MessageBuilder) -> None:
    with pytest.raises(MessageError):
        # A non-ASCII local part needs SMTPUTF8.
        build(builder, recipient="jürgen@example.org")
    out = build(builder, recipient="bob@Bücher.example", recipient_name=None)
    assert out.recipient == "bob@xn--bcher-kva.example"
    assert parse(out.data)["To"] == "bob@xn--bcher-kva.example"


def test_unsubscribe_headers_need_a_clean_token(builder: MessageBuilder) -> None:
    with pytest.raises(MessageError, match="URL-safe"):
        build(builder, unsubscribe_token="a b>")
    no_token = parse(build(builder, unsubscribe_token=None).data)
    assert no_token["List-Unsubscribe"] is None
    assert no_token["List-Unsubscribe-Post"] is None
    long_token = "t" * 60
    header = parse(build(builder, unsubscribe_token=long_token).data)["List-Unsubscribe"]
    # The mailto alternative would pass 64 octets of local part: only HTTPS is given.
    assert header == f"<https://maily.example/u/{long_token}>"


def test_one_off_helpers(key: DkimKey) -> None:
    options: dict[str, object] = {
        "from_email": "hello@news.example.com",
        "sending_domain": DOMAIN,
        "return_path_domain": RETURN_PATH,
        "workspace_id": WORKSPACE,
        "verp": VERP,
        "signer": DkimSigner(DOMAIN, SELECTOR, key.private_key_pem),
        "recipient": "bob@example.org",
        "subject": "Test send",
        "html": "<p>Hi</p>",
        "text": "Hi",
    }
    out = outgoing_message(**options)  # type: ignore[arg-type]
    assert verifies(out.data, key)
    assert parse(out.data)["List-Unsubscribe"] is None
    data = build_message(**options)
    assert verifies(data, key)
    assert parse(data)["Subject"] == "Test send"


def test_builder_refuses_bad_configuration() -> None:
    common: dict[str, object] = {
        "sending_domain": DOMAIN,
        "return_path_domain": RETURN_PATH,
        "workspace_id": WORKSPACE,
        "verp": VERP,
    }
    with pytest.raises(MessageError):
        MessageBuilder(from_email="no at sign", **common)  # type: ignore[arg-type]
    with pytest.raises(MessageError, match="token"):
        MessageBuilder(
            from_email="a@news.example.com",
            unsubscribe_url="https://maily.example/u/",
            **common,  # type: ignore[arg-type]
        )
    with pytest.raises(MessageError, match="List-Id"):
        MessageBuilder(from_email="a@news.example.com", list_id="has space", **common)  # type: ignore[arg-type]
    with pytest.raises(MessageError, match="extra header"):
        MessageBuilder(
            from_email="a@news.example.com",
            extra_headers=[("Bad:Name", "x")],
            **common,  # type: ignore[arg-type]
        )
