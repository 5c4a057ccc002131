"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", sent as `t=…,v1=…`.

A receiver recomputes the HMAC with the endpoint's secret over the raw request
body, compares in constant time, and refuses timestamps older than a few minutes
so a captured request cannot be replayed later. `verify_signature` does exactly
that and is what the documentation shows receivers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Maily-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


class InvalidSignature(ValueError):
    """The signature header is missing, malformed, stale or does not match."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={compute_signature(secret, t, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> int:
    """Check a `Maily-Signature` header; return its timestamp or raise InvalidSignature.

    Several `v1=` values may be present (while a secret is being rotated); one
    matching is enough."""
    if not header:
        raise InvalidSignature("no signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature("the timestamp is not a number") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("the header needs t= and v1=")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise InvalidSignature("the timestamp is outside the tolerance")
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise InvalidSignature("no signature matches")
    return timestamp
