"""Request and response models for sending domains and senders."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

import idna
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from maily.delivery.dkim import DkimAlgorithm
from maily.delivery.domains.records import RecordPurpose, RecordStatus
from maily.kit.schemas import Schema

# Leaves room for `<selector>._domainkey.` and the bounce subdomain within the
# 253 characters of a DNS name.
MAX_DOMAIN = 180
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def normalize_domain(value: str) -> str:
    """A domain as Maily stores it: lowercase, IDNA (punycode), no trailing dot."""
    value = value.strip().rstrip(".").lower()
    if not value.isascii():
        try:
            value = idna.encode(value, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"not a valid internationalised domain name: {exc}") from exc
    labels = value.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            "not a domain name: give a name like example.com (letters, digits and "
            "hyphens, labels separated by dots)"
        )
    if labels[-1].isdigit():
        raise ValueError("an IP address is not a sending domain")
    if len(value) > MAX_DOMAIN:
        raise ValueError(f"domain names of more than {MAX_DOMAIN} characters are not supported")
    return value


def normalize_selector(value: str) -> str:
    value = value.strip().lower()
    if not _LABEL.fullmatch(value):
        raise ValueError(
            "a DKIM selector is one DNS label: letters, digits and inner hyphens, "
            "at most 63 characters"
        )
    return value


def normalize_email(value: str) -> str:
    """An address as it goes in a header: ASCII (IDNA domain), domain lowercased."""
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    if checked.ascii_email is None:
        raise ValueError(
            "addresses with non-ASCII characters before the @ need SMTPUTF8, "
            "which Maily does not send"
        )
    local, _, domain = checked.ascii_email.rpartition("@")
    return f"{local}@{domain.lower()}"


def _no_controls(value: str) -> str:
    if _CONTROLS.search(value):
        raise ValueError("must not contain line breaks or other control characters")
    return value


Domain = Annotated[
    str,
    AfterValidator(normalize_domain),
    WithJsonSchema({"type": "string", "format": "hostname", "maxLength": 253}),
]
Selector = Annotated[
    str,
    AfterValidator(normalize_selector),
    WithJsonSchema({"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"}),
]
Email = Annotated[
    str,
    AfterValidator(normalize_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 320}),
]
FromName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=200),
    AfterValidator(_no_controls),
]


class SendingDomainCreate(Schema):
    domain: Domain = Field(description="The domain in From addresses, e.g. example.com")
    dkim_algorithm: DkimAlgorithm = Field(
        default=DkimAlgorithm.rsa_sha256,
        description="rsa-sha256 (RSA-2048, verified everywhere) or ed25519-sha256 "
        "(RFC 8463; small and fast, but not every receiver checks it yet)",
    )
    dkim_selector: Selector | None = Field(
        default=None, description="The DKIM selector; generated when left out"
    )


class DnsRecordOut(Schema):
    purpose: RecordPurpose
    type: str = Field(description="TXT, CNAME or MX")
    name: str
    value: str = Field(description="Publish as one value; DNS tools split long TXT values")
    priority: int | None = None
    status: RecordStatus
    detail: str | None = None
    found: list[str] = Field(default_factory=list, description="What DNS held at the last check")


class SendingDomainOut(Schema):
    id: uuid.UUID
    domain: str
    verified: bool
    dkim_selector: str
    dkim_algorithm: DkimAlgorithm
    return_path_domain: str
    records: list[DnsRecordOut]
    zone_file: str = Field(description="The records as BIND zone-file lines")
    checked_at: datetime | None
    verified_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SenderCreate(Schema):
    from_name: FromName = ""
    from_email: Email = Field(description="An address on one of the workspace's sending domains")
    reply_to: Email | None = None


class SenderUpdate(Schema):
    from_name: FromName | None = None
    from_email: Email | None = None
    reply_to: Email | None = Field(default=None, description="null removes the Reply-To")


class SenderOut(Schema):
    id: uuid.UUID
    from_name: str
    from_email: str
    reply_to: str | None
    sending_domain_id: uuid.UUID
    domain: str
    verified: bool = Field(description="Whether its domain is verified, so it can send")
    created_at: datetime
    updated_at: datetime
