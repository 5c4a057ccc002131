"""Address normalisation and checks."""

from __future__ import annotations

import pytest

from maily.contacts.addresses import (
    InvalidAddress,
    is_role_address,
    normalize_domain,
    normalize_email,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ann.Lee@Example.COM ", "ann.lee@example.com"),
        ("o'brien+news@mail.example.org", "o'brien+news@mail.example.org"),
        ("x@sub-domain.example.co.uk", "x@sub-domain.example.co.uk"),
    ],
)
def test_normalizes(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "plain", "a@", "@example.com", "a@@example.com", "a..b@example.com", "a@example",
     "a@-bad.example.com", "a b@example.com", "a@example.123", "x" * 65 + "@example.com",
     "a@" + "b" * 250 + ".com", '"quoted"@example.com'],
)  # fmt: skip
def test_refuses(raw: str) -> None:
    with pytest.raises(InvalidAddress):
        normalize_email(raw)


def test_role_addresses() -> None:
    assert is_role_address("info@example.com")
    assert is_role_address("postmaster@example.com")
    assert not is_role_address("ann@example.com")


def test_domains() -> None:
    assert normalize_domain(" @Example.COM") == "example.com"
    with pytest.raises(InvalidAddress):
        normalize_domain("not a domain")
