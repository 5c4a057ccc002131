"""DKIM signatures verify with dkimpy, and stop verifying when a covered part changes."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dkim.canonicalization import Relaxed
from hypothesis import given, settings
from hypothesis import strategies as st

from maily.delivery.dkim import (
    DkimAlgorithm,
    DkimKey,
    DkimKeyError,
    DkimSigner,
    canonical_body,
    canonical_header,
    dns_record,
    generate_key,
    split_message,
)

DOMAIN = "example.com"
SELECTOR = "mly202612ab12"


@pytest.fixture(scope="module", params=list(DkimAlgorithm), ids=lambda a: a.value)
def key(request: pytest.FixtureRequest) -> DkimKey:
    return generate_key(request.param)


def published(key: DkimKey) -> Callable[..., bytes]:
    """dkimpy's DNS hook: our TXT record at the selector's name, nothing elsewhere."""
    record = dns_record(key.algorithm, key.public_key).encode()

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
        return record

    return lookup


def verifies(message: bytes, key: DkimKey) -> bool:
    return bool(dkim.verify(message, dnsfunc=published(key)))


def message(*, subject: str = "Your December news", body: bytes | None = None) -> bytes:
    headers = (
        "From: Example News <news@example.com>\r\n"
        "To: bob@example.org\r\n"
        f"Subject: {subject}\r\n"
        "Date: Tue, 01 Dec 2026 09:00:00 +0000\r\n"
        "Message-ID: <0190e7a2-6c1d-7a2b-9f00-000000000001@example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        "List-Unsubscribe: <https://maily.example/u/tok>, <mailto:unsubscribe+tok@bounces.example.com>\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        "List-Id: <news.example.com>\r\n"
        "Feedback-ID: c1:w1:maily\r\n"
        "X-Mailer: not signed\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
    ).encode()
    return headers + (body if body is not None else b"Hello Bob,\r\n\r\nthe news.\r\n")


def signed_names(signed: bytes) -> list[str]:
    value = dkim.rfc822_parse(signed)[0][0][1]
    tags = dict(
        (part.split(b"=", 1)[0].strip(), part.split(b"=", 1)[1]) for part in value.split(b";")
    )
    return [name.strip().decode() for name in b"".join(tags[b"h"].split()).split(b":")]


def test_signatures_verify(key: DkimKey) -> None:
    signer = DkimSigner(DOMAIN, SELECTOR, key.private_key_pem, key.algorithm)
    signed = signer.sign(message())
    assert signed.startswith(b"DKIM-Signature: v=1; a=" + key.algorithm.value.encode())
    assert verifies(signed, key)


def test_the_fixed_header_list_is_signed_when_present(key: DkimKey) -> None:
    signed = DkimSigner(DOMAIN, SELECTOR, key.private_key_pem).sign(message())
    names = signed_names(signed)
    assert names == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-id",
        "feedback-id",
        "from",  # oversigned: a second From added later breaks the signature
    ]
    assert "x-mailer" not in names
    assert "reply-to" not in names


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda m: m.replace(b"Subject: Your", b"Subject: Our"), id="subject"),
        pytest.param(lambda m: m.replace(b"u/tok>", b"u/other>"), id="list-unsubscribe"),
        pytest.param(lambda m: m.replace(b"One-Click", b"one-click"), id="unsubscribe-post"),
        pytest.param(lambda m: m.replace(b"the news", b"the fake news"), id="body"),
        pytest.param(lambda m: m + b"P.S. buy now\r\n", id="appended body"),
        pytest.param(
            lambda m: m.replace(b"MIME-Version", b"From: ceo@example.com\r\nMIME-Version"),
            id="second From",
        ),
    ],
)
def test_tampering_breaks_the_signature(key: DkimKey, tamper: Callable[[bytes], bytes]) -> None:
    signed = DkimSigner(DOMAIN, SELECTOR, key.private_key_pem).sign(message())
    changed = tamper(signed)
    assert changed != signed
    assert not verifies(changed, key)


def test_unsigned_headers_and_whitespace_may_change(key: DkimKey) -> None:
    signed = DkimSigner(DOMAIN, SELECTOR, key.private_key_pem).sign(message())
    # Relaxed canonicalisation: refolding, trailing blank lines and an unsigned
    # header added in transit leave the signature valid.
    relayed = signed.replace(b"X-Mailer: not signed", b"X-Mailer: relay\r\nReceived: by mx")
    relayed = relayed.replace(b"Subject: Your December", b"Subject: Your\r\n\t  December")
    relayed += b"\r\n\r\n"
    assert verifies(relayed, key)


def test_body_with_trailing_blank_lines_and_spaces(key: DkimKey) -> None:
    body = b"Line one  \r\n\tindented\t \r\n\r\n\r\n\r\n"
    signed = DkimSigner(DOMAIN, SELECTOR, key.private_key_pem).sign(message(body=body))
    assert verifies(signed, key)
    assert verifies(signed.rstrip(b"\r\n") + b"\r\n", key)


def test_long_folded_and_encoded_subjects(key: DkimKey) -> None:
    encoded = (
        "=?utf-8?b?R3LDvMOfZSBhdXMgTcO8bmNoZW4g4oCUIGVpbiBsYW5nZXIgQmV0cmVm?=\r\n"
        " =?utf-8?b?ZiBtaXQgVW1sYXV0ZW4gw6TDtsO8?="
    )
    long_ascii = "A subject that is long " * 6 + "\r\n\tand folded by its writer"
    signer = DkimSigner(DOMAIN, SELECTOR, key.private_key_pem)
    for subject in (encoded, long_ascii):
        assert verifies(signer.sign(message(subject=subject)), key)


def test_empty_body_and_bare_line_feeds(key: DkimKey) -> None:
    signer = DkimSigner(DOMAIN, SELECTOR, key.private_key_pem)
    assert verifies(signer.sign(message(body=b"")), key)
    unix = message().replace(b"\r\n", b"\n")
    # Signed (and given back) as the CRLF message SMTP will carry.
    signed = signer.sign(unix)
    assert signed.count(b"\n") == signed.count(b"\r\n")
    assert verifies(signed, key)


def test_sign_parts_matches_sign(key: DkimKey) -> None:
    clock = SimpleNamespace(now=1_796_000_000.0)
    signer = DkimSigner(DOMAIN, SELECTOR, key.private_key_pem, clock=lambda: clock.now)
    raw = message()
    headers, body = split_message(raw)
    header = signer.sign_parts(headers, body)
    # PKCS #1 v1.5 and Ed25519 signatures are deterministic.
    assert header == signer.signature(raw)
    assert verifies(header + raw, key)
    assert b"\tt=1796000000;" in header


def test_signature_lines_stay_short(key: DkimKey) -> None:
    signed = DkimSigner(DOMAIN, SELECTOR, key.private_key_pem).sign(message())
    header = signed[: signed.index(b"From:")]
    assert all(len(line) <= 78 for line in header.split(b"\r\n"))


def test_from_domain_row(key: DkimKey) -> None:
    row = SimpleNamespace(
        domain="Example.COM",
        dkim_selector=SELECTOR,
        dkim_algorithm=key.algorithm.value,
        dkim_private_key=key.private_key_pem,
    )
    signer = DkimSigner.from_domain(row)
    assert signer.domain == DOMAIN
    assert signer.dns_record == dns_record(key.algorithm, key.public_key)
    assert verifies(signer.sign(message()), key)


def test_published_records() -> None:
    rsa_key = generate_key(DkimAlgorithm.rsa_sha256)
    ed_key = generate_key(DkimAlgorithm.ed25519_sha256)
    assert dns_record(rsa_key.algorithm, rsa_key.public_key).startswith("v=DKIM1; k=rsa; p=MIIB")
    assert dns_record(ed_key.algorithm, ed_key.public_key).startswith("v=DKIM1; k=ed25519; p=")
    assert len(ed_key.public_key) == 44  # 32 raw bytes in base64 (RFC 8463 §4.2)
    loaded = serialization.load_pem_private_key(rsa_key.private_key_pem.encode(), None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    assert loaded.key_size == 2048


def test_unusable_keys_are_refused() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(DkimKeyError, match="RSA or Ed25519"):
        DkimSigner(DOMAIN, SELECTOR, ec_pem)
    with pytest.raises(DkimKeyError, match="PEM"):
        DkimSigner(DOMAIN, SELECTOR, "not a key")
    ed = generate_key(DkimAlgorithm.ed25519_sha256)
    with pytest.raises(DkimKeyError, match="cannot sign rsa-sha256"):
        DkimSigner(DOMAIN, SELECTOR, ed.private_key_pem, "rsa-sha256")
    with pytest.raises(ValueError, match="must cover From"):
        DkimSigner(DOMAIN, SELECTOR, ed.private_key_pem, headers=("subject",))


# --- canonicalisation, RFC 6376 §3.4 ------------------------------------------------


def test_rfc6376_example() -> None:
    # §3.4.6: the relaxed form of its example message.
    headers, body = split_message(b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n")
    assert b"".join(canonical_header(n, v) for n, v in headers) == b"a:X\r\nb:Y Z\r\n"
    assert canonical_body(body) == b" C\r\nD E\r\n"


def test_empty_bodies() -> None:
    assert canonical_body(b"") == b""
    assert canonical_body(b"\r\n\r\n \r\n") == b""
    assert canonical_body(b"x") == b"x\r\n"


_pieces = st.lists(st.sampled_from([b" ", b"\t", b"\r\n", b"a", b"B", b"=", b"  ", b"\t "]))


@settings(max_examples=400, deadline=None)
@given(_pieces)
def test_body_canonicalisation_matches_dkimpy(pieces: list[bytes]) -> None:
    body = b"".join(pieces)
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"  # what SMTP carries: a body always ends with CRLF
    assert canonical_body(body) == Relaxed.canonicalize_body(body)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([b"Subject", b"FROM", b"x-Thing "]),
    st.lists(st.sampled_from([b" ", b"\t", b"\r\n ", b"\r\n\t", b"v", b"=?x?=", b";"])),
)
def test_header_canonicalisation_matches_dkimpy(name: bytes, pieces: list[bytes]) -> None:
    value = b"".join(pieces)
    [(cname, cvalue)] = Relaxed.canonicalize_headers([(name, value)])
    assert canonical_header(name, value) == cname + b":" + cvalue
