"""Signatures a receiver can verify, and the ones it must refuse."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from maily.webhooks.signing import (
    InvalidSignature,
    compute_signature,
    new_secret,
    signature_header,
    verify_signature,
)

BODY = b'{"id":"s:1-0","type":"email.opened"}'


def test_the_header_is_hmac_sha256_of_timestamp_dot_body() -> None:
    secret = new_secret()
    header = signature_header(secret, BODY, timestamp=1_700_000_000)
    expected = hmac.new(secret.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify_signature(secret, header, BODY, now=1_700_000_010) == 1_700_000_000


@pytest.mark.parametrize(
    ("header", "body", "now"),
    [
        (None, BODY, 1_700_000_000),
        ("", BODY, 1_700_000_000),
        ("v1=abc", BODY, 1_700_000_000),
        ("t=1700000000", BODY, 1_700_000_000),
        ("t=soon,v1=abc", BODY, 1_700_000_000),
        ("SIGNED", BODY, 1_700_000_000),
        ("GOOD", BODY + b" ", 1_700_000_000),  # body changed
        ("GOOD", BODY, 1_700_000_000 + 301),  # replayed too late
        ("OTHER_SECRET", BODY, 1_700_000_000),
    ],
)
def test_bad_signatures_are_refused(header: str | None, body: bytes, now: int) -> None:
    secret = new_secret()
    if header == "GOOD":
        header = signature_header(secret, BODY, timestamp=1_700_000_000)
    elif header == "OTHER_SECRET":
        header = signature_header(new_secret(), BODY, timestamp=1_700_000_000)
    elif header == "SIGNED":
        header = f"t=1700000000,v1={compute_signature(secret, 1_700_000_001, BODY)}"
    with pytest.raises(InvalidSignature):
        verify_signature(secret, header, body, now=now)


def test_secrets_are_long_and_distinct() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(s.startswith("whsec_") and len(s) >= 40 for s in secrets)
