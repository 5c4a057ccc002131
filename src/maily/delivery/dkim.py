"""DKIM signatures (RFC 6376): relaxed/relaxed, rsa-sha256 or ed25519-sha256 (RFC 8463).

The private-key operation runs in OpenSSL through `cryptography`; canonicalisation
is the few lines of RFC 6376 §3.4 below, tested against dkimpy's. See
docs/adr/0004-dkim-signing.md for why not dkimpy itself."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

__all__ = [
    "MIN_RSA_BITS",
    "SIGNED_HEADERS",
    "DkimAlgorithm",
    "DkimKey",
    "DkimKeyError",
    "DkimSigner",
    "SigningKey",
    "canonical_body",
    "canonical_header",
    "dns_record",
    "generate_key",
    "split_message",
]

# RFC 8301: verifiers refuse keys under 1024 bits; 2048 is what we generate.
MIN_RSA_BITS = 1024
RSA_BITS = 2048

# The header fields a signature covers, in this order, when the message has them.
# Reply-To, Cc and Content-Transfer-Encoding are covered too: a relay that rewrites
# any of them changes what the reader sees or decodes.
SIGNED_HEADERS: tuple[str, ...] = (
    "from",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-id",
    "feedback-id",
)
# Named once more in h= than the message has them (RFC 6376 §8.15): a second From
# added in transit then breaks the signature instead of riding on it.
OVERSIGNED_HEADERS: tuple[str, ...] = ("from",)

SigningKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

_WSP_RUN = re.compile(rb"[\t ]+")
# Only what relaxed body canonicalisation changes: whitespace before a line end,
# and runs of whitespace that are not one plain space.
_TRAILING_WSP = re.compile(rb"[\t ]+(?=\r\n)")
_ODD_WSP = re.compile(rb"[\t ]{2,}|\t")
_B64_LINE = 72


class DkimAlgorithm(StrEnum):
    rsa_sha256 = "rsa-sha256"
    ed25519_sha256 = "ed25519-sha256"

    @property
    def key_type(self) -> str:
        """The k= tag of the published key record."""
        return "rsa" if self is DkimAlgorithm.rsa_sha256 else "ed25519"


class DkimKeyError(ValueError):
    """A private key that cannot sign DKIM: unreadable, the wrong kind, or too short."""


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A freshly generated key pair: the private half as PEM (PKCS #8), the public
    half as the base64 that goes in the p= tag of the DNS record."""

    algorithm: DkimAlgorithm
    private_key_pem: str
    public_key: str


def generate_key(algorithm: DkimAlgorithm) -> DkimKey:
    """A new key: RSA-2048 or Ed25519. RSA generation takes tens of milliseconds of
    CPU, so async callers run this in a thread."""
    key: SigningKey
    if algorithm is DkimAlgorithm.rsa_sha256:
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return DkimKey(algorithm, pem, public_key_b64(key))


def public_key_b64(key: SigningKey) -> str:
    """p= of the key record: SubjectPublicKeyInfo DER for RSA (RFC 6376 §3.6.1),
    the raw 32-byte key for Ed25519 (RFC 8463 §4.2)."""
    if isinstance(key, rsa.RSAPrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    return base64.b64encode(raw).decode("ascii")


def dns_record(algorithm: DkimAlgorithm, public_key: str) -> str:
    """The TXT record to publish at `{selector}._domainkey.{domain}`."""
    return f"v=DKIM1; k={algorithm.key_type}; p={public_key}"


def load_key(private_key: str | bytes | SigningKey) -> SigningKey:
    if isinstance(private_key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        key: object = private_key
    else:
        pem = private_key.encode("ascii") if isinstance(private_key, str) else private_key
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise DkimKeyError("the DKIM private key is not an unencrypted PEM key") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise DkimKeyError(
                f"a {key.key_size}-bit RSA key is too short for DKIM (RFC 8301 asks "
                f"at least {MIN_RSA_BITS}, and {RSA_BITS} is recommended)"
            )
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise DkimKeyError("DKIM signs with RSA or Ed25519 keys only")


class DkimKeyHolder(Protocol):
    """What a signer needs from a sending domain (`maily.models.SendingDomain`)."""

    @property
    def domain(self) -> str: ...
    @property
    def dkim_selector(self) -> str: ...
    @property
    def dkim_algorithm(self) -> str: ...
    @property
    def dkim_private_key(self) -> str: ...


Header = tuple[bytes, bytes]


def with_crlf(message: bytes) -> bytes:
    """The message with CRLF line ends. Bare LFs (a message built with Unix line
    endings) become CRLF in SMTP transit anyway, so that is what gets signed."""
    if message.count(b"\n") != message.count(b"\r\n"):
        return message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return message


def split_message(message: bytes) -> tuple[list[Header], bytes]:
    """Header fields as (name, raw value) — the value is everything after the colon,
    folding kept, without the final CRLF — and the body after the blank line."""
    message = with_crlf(message)
    end = message.find(b"\r\n\r\n")
    if end == -1:
        head, body = (message[:-2] if message.endswith(b"\r\n") else message), b""
    else:
        head, body = message[:end], message[end + 4 :]
    headers: list[Header] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + b"\r\n" + line)
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise ValueError(f"not a header field: {line[:80]!r}")
        headers.append((name, value))
    return headers, body


class DkimSigner:
    """Signs messages for one (domain, selector, key). Build it once per campaign:
    loading the key is the slow part; each signature is one hash of the body, one of
    the covered headers, and one private-key operation in OpenSSL."""

    def __init__(
        self,
        domain: str,
        selector: str,
        private_key: str | bytes | SigningKey,
        algorithm: DkimAlgorithm | str | None = None,
        *,
        headers: Sequence[str] = SIGNED_HEADERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.domain = domain.rstrip(".").lower()
        self.selector = selector.lower()
        if not self.domain or not self.selector:
            raise ValueError("a DKIM signer needs a domain and a selector")
        self._key = load_key(private_key)
        actual = (
            DkimAlgorithm.rsa_sha256
            if isinstance(self._key, rsa.RSAPrivateKey)
            else DkimAlgorithm.ed25519_sha256
        )
        if algorithm is not None and DkimAlgorithm(algorithm) is not actual:
            raise DkimKeyError(f"a {actual.key_type} key cannot sign {algorithm}")
        self.algorithm = actual
        self._headers = tuple(name.lower() for name in headers)
        if "from" not in self._headers:
            raise ValueError("a DKIM signature must cover From (RFC 6376 §5.4)")
        self._clock = clock
        self._second = -1
        self._stamp = b""
        self._plans: dict[tuple[bytes, ...], _Plan] = {}
        self._padding = padding.PKCS1v15()
        self._hash = hashes.SHA256()
        # Everything in the signature header that is the same for every message.
        self._prefix = (
            f" v=1; a={actual.value}; c=relaxed/relaxed;\r\n"
            f"\td={self.domain}; s={self.selector};\r\n\tt="
        ).encode("ascii")

    @classmethod
    def from_domain(
        cls,
        domain: DkimKeyHolder,
        *,
        headers: Sequence[str] = SIGNED_HEADERS,
        clock: Callable[[], float] = time.time,
    ) -> DkimSigner:
        """The signer of a sending domain row; its key is decrypted when the row loads."""
        return cls(
            domain.domain,
            domain.dkim_selector,
            domain.dkim_private_key,
            DkimAlgorithm(domain.dkim_algorithm),
            headers=headers,
            clock=clock,
        )

    @property
    def public_key(self) -> str:
        return public_key_b64(self._key)

    @property
    def dns_record(self) -> str:
        return dns_record(self.algorithm, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The message (CRLF line ends) with its DKIM-Signature header field first."""
        message = with_crlf(message)
        return self.signature(message) + message

    def signature(self, message: bytes) -> bytes:
        """The `DKIM-Signature: ...\\r\\n` header field for a complete message."""
        headers, body = split_message(message)
        return self.sign_parts(headers, body)

    def sign_parts(
        self,
        headers: Sequence[Header],
        body: bytes,
        canonical: Sequence[bytes | None] | None = None,
    ) -> bytes:
        """The DKIM-Signature header field for a message given as its header fields
        (name, raw value after the colon) and its body, for callers that assemble
        the message themselves and so need not parse it back. `canonical` may hold,
        by position, a field's relaxed form (`canonical_header`) computed in advance,
        for fields every message of a sender has (None, or a shorter sequence, where
        it does not)."""
        body_hash = hashlib.sha256(canonical_body(body)).digest()
        names = tuple(name for name, _ in headers)
        plan = self._plans.get(names)
        if plan is None:
            plan = self._plan(names)
        known = canonical or ()
        selected = []
        for index in plan.picks:
            done = known[index] if index < len(known) else None
            selected.append(done if done is not None else canonical_header(*headers[index]))
        value = b"".join(
            (self._prefix, self._timestamp(), plan.names, base64.b64encode(body_hash), b";\r\n\tb=")
        )
        # The signature header itself is hashed without its trailing CRLF.
        selected.append(canonical_header(b"DKIM-Signature", value)[:-2])
        signed = b"".join(selected)
        if isinstance(self._key, rsa.RSAPrivateKey):
            raw = self._key.sign(signed, self._padding, self._hash)
        else:
            # RFC 8463 §3: Ed25519 signs the SHA-256 digest, not the data.
            raw = self._key.sign(hashlib.sha256(signed).digest())
        b64 = base64.b64encode(raw)
        chunks = [b64[i : i + _B64_LINE] for i in range(0, len(b64), _B64_LINE)]
        return b"DKIM-Signature:" + value + b"\r\n\t".join(chunks) + b"\r\n"

    def _timestamp(self) -> bytes:
        """t=, formatted once per second."""
        now = int(self._clock())
        if now != self._second:
            self._stamp, self._second = str(now).encode("ascii"), now
        return self._stamp

    def _plan(self, fields: tuple[bytes, ...]) -> _Plan:
        """Which of a message's fields (by position) the signature covers, in h= order,
        and the h= text: the same for every message with these field names."""
        present: dict[bytes, list[int]] = {}
        for position, field_name in enumerate(fields):
            present.setdefault(field_name.strip().lower(), []).append(position)
        names = [name for name in self._headers if name.encode("ascii") in present]
        names += [name for name in OVERSIGNED_HEADERS if name in names]
        picks: list[int] = []
        used: dict[bytes, int] = {}
        for name in names:
            # Bottom-up: the n-th mention of a name covers its n-th instance from the
            # end (RFC 6376 §5.4.2); an extra mention covers an empty instance.
            key = name.encode("ascii")
            instances = present[key]
            taken = used.get(key, 0)
            used[key] = taken + 1
            if taken < len(instances):
                picks.append(instances[-1 - taken])
        plan = _Plan(tuple(picks), b"; h=" + _fold_names(names) + b";\r\n\tbh=")
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        self._plans[fields] = plan
        return plan


_MAX_PLANS = 64


@dataclass(frozen=True, slots=True)
class _Plan:
    picks: tuple[int, ...]
    names: bytes  # "; h=…;" up to "bh="


def _fold_names(names: Sequence[str]) -> bytes:
    """The h= list, broken after a colon where a line would pass 76 columns."""
    lines: list[str] = []
    line = ""
    width = 19  # the tab and "t=1234567890; h=" before the first name
    for name in names:
        piece = name if not line else ":" + name
        if line and width + len(piece) > 76:
            lines.append(line + ":")
            line, width = name, 1 + len(name)
        else:
            line += piece
            width += len(piece)
    lines.append(line)
    return "\r\n\t".join(lines).encode("ascii")


def canonical_header(name: bytes, value: bytes) -> bytes:
    """`name:value\\r\\n` in relaxed header canonicalisation (RFC 6376 §3.4.2): the name
    lowercased, the value unfolded, runs of whitespace made one space, none at
    either end."""
    if b"\n" in value:
        value = value.replace(b"\r\n", b"").replace(b"\n", b"")
    if b"\t" in value or b"  " in value:
        value = _WSP_RUN.sub(b" ", value)
    return name.strip().lower() + b":" + value.strip(b" ") + b"\r\n"


def canonical_body(body: bytes) -> bytes:
    """The body in relaxed canonicalisation (RFC 6376 §3.4.4): no whitespace at line
    ends, inner runs of whitespace one space, no empty lines at the end, and an
    empty body hashed as nothing. A body not ending in CRLF is treated as the CRLF
    SMTP will add, since that is what the verifier sees."""
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    # Most lines need no change: test before paying for the substitutions.
    if b"\t" in body or b"  " in body or b" \r\n" in body:
        body = _ODD_WSP.sub(b" ", _TRAILING_WSP.sub(b"", body))
    end = len(body)
    while body.endswith(b"\r\n\r\n", 0, end):
        end -= 2
    if end == 2:  # nothing but empty lines
        return b""
    return body[:end] if end != len(body) else body
