"""Password hashing (argon2), JWT access tokens, and opaque random tokens stored as hashes."""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from maily.config import Settings

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A real hash to verify against when the user does not exist, so that a wrong
    address and a wrong password take the same time. Made on first use, not at import:
    every process imports this module, few of them check passwords."""
    return _hasher.hash(secrets.token_urlsafe(16))


API_KEY_PREFIX = "mly_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_opaque_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    # Tokens are 256 random bits, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_version: int
    expires_at: datetime


class InvalidToken(Exception):
    pass


def issue_access_token(
    settings: Settings, user_id: uuid.UUID, session_version: int
) -> tuple[str, int]:
    ttl = settings.security.access_token_ttl_seconds
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "sv": session_version,
        "iat": now,
        "exp": now + timedelta(seconds=ttl),
        "iss": settings.security.jwt_issuer,
        "typ": "access",
        "jti": secrets.token_hex(8),
    }
    token = jwt.encode(
        claims,
        settings.security.secret_key.get_secret_value(),
        algorithm=settings.security.jwt_algorithm,
    )
    return token, ttl


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            settings.security.secret_key.get_secret_value(),
            algorithms=[settings.security.jwt_algorithm],
            issuer=settings.security.jwt_issuer,
            options={"require": ["sub", "exp", "iat", "iss", "sv"]},
        )
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            session_version=int(claims["sv"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc
