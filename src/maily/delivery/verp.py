"""VERP return paths: the delivery id in the envelope sender, HMAC-signed.

A bounce comes back to `bounces+<token>@<return-path domain>`; the token names the
delivery it is about, so even a bounce whose body says nothing useful can be
attributed. The tag makes forging one impossible: without the secret nobody can
write a return path that suppresses somebody else's address."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from maily.config import Settings

__all__ = ["VERP_LOCAL_PART", "Verp", "parse_verp", "verp_address"]

VERP_LOCAL_PART = "bounces"
_TAG_BYTES = 10  # 80 bits: no forgery by guessing
# 16 id bytes + the tag in hex: case-insensitive, as some MTAs fold local parts, and
# "bounces+" + 52 characters stays within the 64 octets of a local part.
_TOKEN_CHARS = 52


class Verp:
    """Writes and reads VERP addresses with one secret."""

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else secret
        if not raw:
            raise ValueError("a VERP secret must not be empty")
        # A key of its own, so a VERP tag is never valid as any other token.
        self._key = hmac.new(raw, b"maily:verp:v1", hashlib.sha256).digest()
        self._mac = hmac.new(self._key, digestmod=hashlib.sha256)

    @classmethod
    def from_settings(cls, settings: Settings) -> Verp:
        return cls(settings.security.secret_key.get_secret_value())

    def _tag(self, delivery_id: uuid.UUID) -> bytes:
        # Keyed once; a copy per address is cheaper than keying anew.
        mac = self._mac.copy()
        mac.update(delivery_id.bytes)
        return mac.digest()[:_TAG_BYTES]

    def token(self, delivery_id: uuid.UUID) -> str:
        return (delivery_id.bytes + self._tag(delivery_id)).hex()

    def address(self, delivery_id: uuid.UUID | None, domain: str) -> str:
        """`bounces+<token>@domain`; plain `bounces@domain` for mail that is no delivery
        (a test send), whose bounces nobody needs to attribute."""
        if delivery_id is None:
            return f"{VERP_LOCAL_PART}@{domain}"
        return f"{VERP_LOCAL_PART}+{self.token(delivery_id)}@{domain}"

    def parse(self, address: str) -> uuid.UUID | None:
        """The delivery id a VERP address names, or None when it is not one of ours
        or its tag is wrong. Accepts `<...>` and any case."""
        address = address.strip().strip("<>")
        local, at, _domain = address.rpartition("@")
        if not at:
            return None
        prefix, plus, token = local.partition("+")
        if not plus or prefix.lower() != VERP_LOCAL_PART or len(token) != _TOKEN_CHARS:
            return None
        try:
            raw = bytes.fromhex(token)
        except ValueError:
            return None
        if len(raw) != 16 + _TAG_BYTES:  # fromhex skips spaces
            return None
        delivery_id = uuid.UUID(bytes=raw[:16])
        if not hmac.compare_digest(raw[16:], self._tag(delivery_id)):
            return None
        return delivery_id


def verp_address(delivery_id: uuid.UUID | None, domain: str, *, secret: str | bytes) -> str:
    return Verp(secret).address(delivery_id, domain)


def parse_verp(address: str, *, secret: str | bytes) -> uuid.UUID | None:
    return Verp(secret).parse(address)
