"""Compact HMAC-signed tokens for open, click and unsubscribe URLs.

A token is base64url (no padding) of a short binary payload followed by a 16-byte tag:

    open, unsubscribe: kind (1 byte) | delivery id (16 bytes, UUID) | tag
    click:             kind | delivery id | link table id (16 bytes) | link index (2) | tag

The tag is HMAC-SHA256 over the payload, truncated to 16 bytes, with a key derived
from `settings.security.secret_key` by HKDF under a fixed label, so the tracking key
is never the key that signs sessions. A click token carries the link's index and the
id of the link table it indexes, never the URL: the URL comes from that table (an
immutable index -> URL list the composer stored when the campaign was prepared, see
`maily.tracking.links`), so a token can only ever lead where the message itself led
(no open redirect), and the click endpoint finds the table without asking which
campaign or template a delivery belongs to. An unsubscribe token
names the delivery, so it unsubscribes exactly the person the message went to, from
what that campaign was sent to; it never expires (RFC 8058 links must keep working)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from maily.config import Settings, get_settings

__all__ = [
    "CLICK_PAYLOAD",
    "MAX_LINK_INDEX",
    "OPEN_PAYLOAD",
    "TokenKind",
    "TokenPayload",
    "TokenSigner",
    "click_path",
    "configure_signer",
    "open_path",
    "sign_click",
    "sign_open",
    "unsubscribe_path",
    "verify",
]

TAG_BYTES = 16
MAX_LINK_INDEX = 0xFFFF
_KEY_LABEL = b"maily/tracking-tokens/v1"
# Payload bytes (before the tag): kind | delivery [| link table | link index].
CLICK_PAYLOAD = 1 + 16 + 16 + 2
OPEN_PAYLOAD = 1 + 16
_URLSAFE = bytes.maketrans(b"+/", b"-_")
# base64url back to base64; "+", "/" and "=" are not in an unpadded base64url token, so
# they become invalid. A table on bytes: str.translate with a mapping looks each
# character up in a dict, some 25 times slower on the request path of every open.
_FROM_URLSAFE = bytes.maketrans(b"-_+/=", b"+/!!!")
_OPEN_CHARS = (OPEN_PAYLOAD + TAG_BYTES) * 4 // 3  # 44
_CLICK_CHARS = (CLICK_PAYLOAD + TAG_BYTES) * 4 // 3  # 68


class TokenKind(IntEnum):
    open = 1
    click = 2
    unsubscribe = 3


@dataclass(frozen=True, slots=True)
class TokenPayload:
    kind: TokenKind
    delivery_id: uuid.UUID
    link_index: int | None = None  # clicks only
    link_table: uuid.UUID | None = None  # clicks only


def derive_key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_LABEL).derive(
        secret_key.encode()
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class TokenSigner:
    """Signs and verifies tracking tokens with one derived key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a tracking key needs at least 32 bytes")
        # Keyed once; copying a keyed HMAC is cheaper than keying one per token.
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        # The same HMAC (RFC 2104) as its two keyed SHA-256 states, for the per-message
        # click URLs: copying hashlib objects directly skips hmac.HMAC's Python
        # wrapper, which is most of the cost of a 20-link message's tokens.
        block = hashlib.sha256(key).digest() if len(key) > 64 else key
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenSigner:
        return cls(derive_key(settings.security.secret_key.get_secret_value()))

    def _tag(self, payload: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(payload)
        return mac.digest()[:TAG_BYTES]

    def _seal(self, payload: bytes) -> str:
        return _b64(payload + self._tag(payload))

    def sign_click(self, delivery_id: uuid.UUID, link_index: int, link_table: uuid.UUID) -> str:
        if not 0 <= link_index <= MAX_LINK_INDEX:
            raise ValueError(f"link index must be between 0 and {MAX_LINK_INDEX}")
        payload = (
            bytes((TokenKind.click,))
            + delivery_id.bytes
            + link_table.bytes
            + link_index.to_bytes(2, "big")
        )
        return self._seal(payload)

    def click_urls(
        self, public_url: str, delivery_id: uuid.UUID, count: int, link_table: uuid.UUID
    ) -> list[str]:
        """The click URLs of links 0..count-1 of one message, whose links are those of
        `link_table`, signed in one go (the per-message path of the sender: the
        delivery's and the table's part of the MAC is done once)."""
        if count > MAX_LINK_INDEX + 1:
            raise ValueError(f"a message can track at most {MAX_LINK_INDEX + 1} links")
        prefix = bytes((TokenKind.click,)) + delivery_id.bytes + link_table.bytes
        inner = self._inner.copy()
        inner.update(prefix)
        outer = self._outer
        head = public_url.rstrip("/") + "/t/c/"
        urls = []
        for index in range(count):
            suffix = index.to_bytes(2, "big")
            digest = inner.copy()
            digest.update(suffix)
            tag = outer.copy()
            tag.update(digest.digest())
            # 51 bytes encode to exactly 68 characters: no padding to strip.
            raw = binascii.b2a_base64(prefix + suffix + tag.digest()[:TAG_BYTES], newline=False)
            urls.append(head + raw.translate(_URLSAFE).decode("ascii"))
        return urls

    def sign_open(self, delivery_id: uuid.UUID) -> str:
        return self._seal(bytes((TokenKind.open,)) + delivery_id.bytes)

    def sign_unsubscribe(self, delivery_id: uuid.UUID) -> str:
        return self._seal(bytes((TokenKind.unsubscribe,)) + delivery_id.bytes)

    def verify_payload(self, token: str) -> bytes | None:
        """The signed payload of a token this key signed (kind, delivery id, ...), or
        None for anything else (tampered, truncated, not base64url). On the request
        path of every open and click, so it decodes strictly in one step: a token's
        length is a multiple of 4 (no padding), so each token has exactly one spelling.
        The caller checks the kind and length; `verify` does both."""
        if len(token) not in (_OPEN_CHARS, _CLICK_CHARS) or not token.isascii():
            return None
        try:
            raw = binascii.a2b_base64(
                token.encode("ascii").translate(_FROM_URLSAFE), strict_mode=True
            )
        except (binascii.Error, ValueError):
            return None
        payload, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        inner = self._inner.copy()
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        if not hmac.compare_digest(tag, outer.digest()[:TAG_BYTES]):
            return None
        return payload

    def verify(self, token: str) -> TokenPayload | None:
        """The payload of a token this key signed; None for anything else (tampered,
        truncated, unknown kind, not base64url)."""
        payload = self.verify_payload(token)
        if payload is None:
            return None
        kind, delivery = payload[0], uuid.UUID(bytes=payload[1:17])
        if kind == TokenKind.click and len(payload) == CLICK_PAYLOAD:
            return TokenPayload(
                TokenKind.click,
                delivery,
                int.from_bytes(payload[33:35], "big"),
                uuid.UUID(bytes=payload[17:33]),
            )
        if kind in (TokenKind.open, TokenKind.unsubscribe) and len(payload) == OPEN_PAYLOAD:
            return TokenPayload(TokenKind(kind), delivery)
        return None

    def click_url(
        self, public_url: str, delivery_id: uuid.UUID, link_index: int, link_table: uuid.UUID
    ) -> str:
        return public_url.rstrip("/") + click_path(
            self.sign_click(delivery_id, link_index, link_table)
        )

    def open_url(self, public_url: str, delivery_id: uuid.UUID) -> str:
        return public_url.rstrip("/") + open_path(self.sign_open(delivery_id))

    def unsubscribe_url(self, public_url: str, delivery_id: uuid.UUID) -> str:
        return public_url.rstrip("/") + unsubscribe_path(self.sign_unsubscribe(delivery_id))


def click_path(token: str) -> str:
    return f"/t/c/{token}"


def open_path(token: str) -> str:
    return f"/t/o/{token}.gif"


def unsubscribe_path(token: str) -> str:
    """One-click unsubscribe (RFC 8058): POST unsubscribes, GET asks to confirm."""
    return f"/u/{token}"


_signer: TokenSigner | None = None


def configure_signer(signer: TokenSigner | None) -> TokenSigner | None:
    """Set the process-wide signer the module functions use; returns the previous one."""
    global _signer
    previous, _signer = _signer, signer
    return previous


def _default_signer() -> TokenSigner:
    global _signer
    if _signer is None:
        _signer = TokenSigner.from_settings(get_settings())
    return _signer


def sign_click(delivery_id: uuid.UUID, link_index: int, link_table: uuid.UUID) -> str:
    return _default_signer().sign_click(delivery_id, link_index, link_table)


def sign_open(delivery_id: uuid.UUID) -> str:
    return _default_signer().sign_open(delivery_id)


def verify(token: str) -> TokenPayload | None:
    return _default_signer().verify(token)
