"""Tracking tokens: compact, URL-safe, and anything tampered verifies as None."""

from __future__ import annotations

import base64
import uuid

import pytest

from maily.tracking import tokens
from maily.tracking.tokens import TokenKind, TokenPayload, TokenSigner, derive_key
from tests.conftest import TEST_SECRET_KEY, make_settings

SIGNER = TokenSigner(derive_key(TEST_SECRET_KEY))
DELIVERY = uuid.UUID("0190f3a4-1111-7222-8333-444455556666")
TABLE = uuid.UUID("5f1c0b7e-2222-5333-8444-555566667777")


def test_click_and_open_tokens_round_trip() -> None:
    click = SIGNER.sign_click(DELIVERY, 7, TABLE)
    opened = SIGNER.sign_open(DELIVERY)
    assert SIGNER.verify(click) == TokenPayload(TokenKind.click, DELIVERY, 7, TABLE)
    assert SIGNER.verify(opened) == TokenPayload(TokenKind.open, DELIVERY)
    assert len(click) == 68
    assert len(opened) == 44
    for token in (click, opened):
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_urls_carry_the_token() -> None:
    click = SIGNER.click_url("https://mail.example.com/", DELIVERY, 3, TABLE)
    opened = SIGNER.open_url("https://mail.example.com", DELIVERY)
    assert click.startswith("https://mail.example.com/t/c/")
    assert opened.startswith("https://mail.example.com/t/o/")
    assert opened.endswith(".gif")
    assert SIGNER.verify(click.rsplit("/", 1)[1]) == TokenPayload(
        TokenKind.click, DELIVERY, 3, TABLE
    )
    assert SIGNER.verify(opened.rsplit("/", 1)[1].removesuffix(".gif")) is not None


def test_unsubscribe_tokens_name_the_delivery_and_are_no_open_token() -> None:
    token = SIGNER.sign_unsubscribe(DELIVERY)
    assert SIGNER.verify(token) == TokenPayload(TokenKind.unsubscribe, DELIVERY)
    url = SIGNER.unsubscribe_url("https://mail.example.com/", DELIVERY)
    assert url == f"https://mail.example.com/u/{token}"
    # Same length as an open token, but the kind is under the tag: one can't pass as
    # the other, so an open pixel's token can never unsubscribe anyone.
    raw = base64.urlsafe_b64decode(SIGNER.sign_open(DELIVERY) + "==")
    as_unsubscribe = bytes((TokenKind.unsubscribe,)) + raw[1:]
    assert SIGNER.verify(base64.urlsafe_b64encode(as_unsubscribe).rstrip(b"=").decode()) is None


def _flip(token: str, position: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[position] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("position", [0, 1, 10, 17, 20, 32, 33, 34, 35, 50])
def test_any_flipped_bit_is_refused(position: int) -> None:
    token = SIGNER.sign_click(DELIVERY, 7, TABLE)
    assert SIGNER.verify(_flip(token, position)) is None


def test_other_link_index_or_kind_cannot_be_forged() -> None:
    token = SIGNER.sign_click(DELIVERY, 1, TABLE)
    raw = base64.urlsafe_b64decode(token)
    forged = raw[:33] + (2).to_bytes(2, "big") + raw[35:]
    assert SIGNER.verify(base64.urlsafe_b64encode(forged).rstrip(b"=").decode()) is None
    # Nor another link table.
    forged = raw[:17] + uuid.uuid4().bytes + raw[33:]
    assert SIGNER.verify(base64.urlsafe_b64encode(forged).rstrip(b"=").decode()) is None
    # An open token's tag does not make a click token (and the other way round).
    opened = base64.urlsafe_b64decode(SIGNER.sign_open(DELIVERY) + "==")
    as_click = bytes((TokenKind.click,)) + opened[1:17] + TABLE.bytes + b"\x00\x00" + opened[17:]
    assert SIGNER.verify(base64.urlsafe_b64encode(as_click).rstrip(b"=").decode()) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "!" * 47,
        "A" * 47,
        "A" * 68,
        "A" * 200,
        "é" * 44,
        SIGNER.sign_click(DELIVERY, 1, TABLE) + "A",
    ],
)
def test_garbage_is_refused(token: str) -> None:
    assert SIGNER.verify(token) is None


def test_another_key_does_not_verify_and_the_key_is_not_the_secret_itself() -> None:
    other = TokenSigner(derive_key(TEST_SECRET_KEY + "-other"))
    assert other.verify(SIGNER.sign_open(DELIVERY)) is None
    assert derive_key(TEST_SECRET_KEY) != TEST_SECRET_KEY.encode()[:32]
    with pytest.raises(ValueError, match="link index"):
        SIGNER.sign_click(DELIVERY, 70_000, TABLE)


def test_module_functions_use_the_configured_signer() -> None:
    settings = make_settings("postgresql://unused/x", "redis://unused/0")
    previous = tokens.configure_signer(TokenSigner.from_settings(settings))
    try:
        token = tokens.sign_click(DELIVERY, 2, TABLE)
        assert tokens.verify(token) == TokenPayload(TokenKind.click, DELIVERY, 2, TABLE)
        assert SIGNER.verify(token) == tokens.verify(token)  # same derived key
        assert tokens.verify(tokens.sign_open(DELIVERY)) is not None
    finally:
        tokens.configure_signer(previous)


def test_click_urls_for_a_message_match_one_by_one_signing() -> None:
    urls = SIGNER.click_urls("https://mail.example.com/", DELIVERY, 20, TABLE)
    assert urls == [
        SIGNER.click_url("https://mail.example.com", DELIVERY, i, TABLE) for i in range(20)
    ]
    assert [SIGNER.verify(u.rsplit("/", 1)[1]) for u in urls] == [
        TokenPayload(TokenKind.click, DELIVERY, i, TABLE) for i in range(20)
    ]


@pytest.mark.parametrize("key_bytes", [32, 64, 65, 100])
def test_click_urls_match_hmac_for_keys_shorter_and_longer_than_a_block(key_bytes: int) -> None:
    # click_urls keeps HMAC's inner and outer SHA-256 states itself; a key longer than
    # the 64-byte block is hashed first, as RFC 2104 says.
    signer = TokenSigner(bytes(range(key_bytes)))
    delivery = uuid.uuid4()
    urls = signer.click_urls("https://mail.example.com", delivery, 300, TABLE)
    assert urls == [
        signer.click_url("https://mail.example.com", delivery, i, TABLE) for i in range(300)
    ]


def test_only_the_base64url_spelling_verifies() -> None:
    token = SIGNER.sign_click(DELIVERY, 1, TABLE)
    standard = base64.b64encode(base64.urlsafe_b64decode(token)).decode()
    assert standard != token or "-" not in token
    for spelling in (standard, token.replace("-", "+").replace("_", "/"), token[:-2] + "=="):
        if spelling != token:
            assert SIGNER.verify(spelling) is None
