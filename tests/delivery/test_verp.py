"""VERP return paths name their delivery, and only ours parse."""

from __future__ import annotations

import uuid

import pytest

from maily.delivery.verp import Verp, parse_verp, verp_address

SECRET = "one secret"
DELIVERY = uuid.UUID("0190e7a2-0000-7000-8000-0000000000d1")


def test_round_trip_in_any_case() -> None:
    address = verp_address(DELIVERY, "bounces.example.com", secret=SECRET)
    local = address.split("@")[0]
    assert local.startswith("bounces+")
    assert len(local) <= 64
    assert parse_verp(address, secret=SECRET) == DELIVERY
    assert parse_verp(address.upper(), secret=SECRET) == DELIVERY
    assert parse_verp(f"<{address}>", secret=SECRET) == DELIVERY


@pytest.mark.parametrize(
    "address",
    [
        "bob@example.org",
        "bounces@bounces.example.com",
        "bounces+@bounces.example.com",
        "bounces+zz@bounces.example.com",
        "other+" + "0" * 52 + "@bounces.example.com",
        "bounces+" + " " * 52 + "@bounces.example.com",
        "no-at-sign",
    ],
)
def test_foreign_addresses_are_not_ours(address: str) -> None:
    assert Verp(SECRET).parse(address) is None


def test_forged_and_foreign_tags_are_refused() -> None:
    address = Verp(SECRET).address(DELIVERY, "bounces.example.com")
    token = address.split("+")[1].split("@")[0]
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert Verp(SECRET).parse(address.replace(token, flipped)) is None
    # Another delivery's id with this delivery's tag.
    other = uuid.uuid4().bytes.hex() + token[32:]
    assert Verp(SECRET).parse(address.replace(token, other)) is None
    # Made with another secret.
    assert Verp("another secret").parse(address) is None


def test_mail_that_is_no_delivery_gets_the_plain_address() -> None:
    assert Verp(SECRET).address(None, "bounces.example.com") == "bounces@bounces.example.com"
    with pytest.raises(ValueError, match="empty"):
        Verp("")
