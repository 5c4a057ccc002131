"""Email address normalisation and checks, fast enough for million-row imports."""

from __future__ import annotations

import hashlib
import re

# A pragmatic RFC 5321 subset: dot-atom local part, dotted domain with a letter TLD.
# Quoted local parts and address literals are refused: bulk senders never need them.
_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
_ADDRESS = re.compile(rf"^{_LOCAL}@(?:{_LABEL}\.)+[a-z][a-z0-9-]{{0,62}}$")

# Mailboxes that reach a function, not a person (RFC 2142 and common practice).
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse", "admin", "administrator", "billing", "contact", "help", "hostmaster",
        "info", "marketing", "noc", "no-reply", "noreply", "office", "postmaster",
        "privacy", "sales", "security", "support", "team", "webmaster",
    }
)  # fmt: skip


class InvalidAddress(ValueError):
    """The text is not a usable email address; the message says why."""


def normalize_email(raw: str) -> str:
    """Trim and lower-case an address, and check its syntax."""
    email = raw.strip().lower()
    if not email:
        raise InvalidAddress("empty address")
    if len(email) > 254:
        raise InvalidAddress("address longer than 254 characters")
    local, at, _ = email.partition("@")
    if not at:
        raise InvalidAddress("no @ in the address")
    if len(local) > 64:
        raise InvalidAddress("local part longer than 64 characters")
    if not _ADDRESS.match(email):
        raise InvalidAddress("not a valid address")
    return email


def is_role_address(email: str) -> bool:
    return email.partition("@")[0] in ROLE_LOCAL_PARTS


def normalize_domain(raw: str) -> str:
    domain = raw.strip().lower().lstrip("@")
    if not re.fullmatch(rf"(?:{_LABEL}\.)+[a-z][a-z0-9-]{{0,62}}", domain):
        raise InvalidAddress("not a valid domain")
    return domain


def value_hash(value: str) -> bytes:
    """The digest suppression entries and contacts.email_hash share (sha256 of UTF-8)."""
    return hashlib.sha256(value.encode()).digest()
