"""The DNS records a sending domain must publish, derived from the domain and settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

from maily.config import Settings
from maily.delivery.dkim import DkimAlgorithm, dns_record

# One TXT string holds at most 255 octets (RFC 1035 §3.3); longer values are
# published as several strings, which resolvers join.
TXT_STRING_MAX = 255


class RecordPurpose(StrEnum):
    dkim = "dkim"
    spf = "spf"
    dmarc = "dmarc"
    return_path = "return_path"


class RecordStatus(StrEnum):
    # Never checked.
    pending = "pending"
    # Found as asked.
    verified = "verified"
    # Nothing at that name (NXDOMAIN or no record of that type).
    missing = "missing"
    # A record is there, but not the one asked for.
    mismatch = "mismatch"
    # The resolver did not answer (timeout, SERVFAIL): says nothing about the record.
    lookup_failed = "lookup_failed"


@dataclass(frozen=True, slots=True)
class ExpectedRecord:
    purpose: RecordPurpose
    type: str  # TXT | CNAME | MX
    name: str
    value: str
    priority: int | None = None


class DomainKeys(Protocol):
    """What records are computed from: a SendingDomain row has these attributes."""

    @property
    def domain(self) -> str: ...
    @property
    def dkim_selector(self) -> str: ...
    @property
    def dkim_algorithm(self) -> str: ...
    @property
    def dkim_public_key(self) -> str: ...
    @property
    def return_path_domain(self) -> str: ...


def return_path_domain(domain: str, settings: Settings) -> str:
    return f"{settings.delivery.return_path_subdomain}.{domain}"


def mx_host(settings: Settings) -> str:
    """Where bounces to a return-path domain are delivered (`maily inbound`)."""
    configured = settings.delivery.return_path_mx_host
    host = configured or urlsplit(settings.api.external_url).hostname or "localhost"
    return host.rstrip(".").lower()


def spf_value(settings: Settings) -> str:
    mechanisms = settings.delivery.spf_mechanisms or [f"a:{mx_host(settings)}"]
    return "v=spf1 " + " ".join(mechanisms) + " ~all"


def dmarc_value(settings: Settings) -> str:
    # p=none: monitor first. A stricter policy is the owner's decision, made once
    # the reports show every legitimate source aligned.
    value = "v=DMARC1; p=none"
    if settings.delivery.dmarc_report_address:
        value += f"; rua=mailto:{settings.delivery.dmarc_report_address}"
    return value


def expected_records(domain: DomainKeys, settings: Settings) -> list[ExpectedRecord]:
    """DKIM key, return path (CNAME, or MX plus SPF) and DMARC, in the order a
    person would publish them."""
    algorithm = DkimAlgorithm(domain.dkim_algorithm)
    records = [
        ExpectedRecord(
            RecordPurpose.dkim,
            "TXT",
            f"{domain.dkim_selector}._domainkey.{domain.domain}",
            dns_record(algorithm, domain.dkim_public_key),
        )
    ]
    target = settings.delivery.return_path_cname_target
    if target:
        # The target carries MX and SPF for every customer: one record to publish.
        records.append(
            ExpectedRecord(
                RecordPurpose.return_path,
                "CNAME",
                domain.return_path_domain,
                target.rstrip(".").lower(),
            )
        )
    else:
        records += [
            ExpectedRecord(
                RecordPurpose.return_path, "MX", domain.return_path_domain, mx_host(settings), 10
            ),
            ExpectedRecord(
                RecordPurpose.spf, "TXT", domain.return_path_domain, spf_value(settings)
            ),
        ]
    records.append(
        ExpectedRecord(RecordPurpose.dmarc, "TXT", f"_dmarc.{domain.domain}", dmarc_value(settings))
    )
    return records


def txt_strings(value: str) -> list[str]:
    return [value[i : i + TXT_STRING_MAX] for i in range(0, len(value), TXT_STRING_MAX)] or [""]


def zone_file(records: list[ExpectedRecord]) -> str:
    """The records as BIND zone-file lines, long TXT values split into strings."""
    lines = []
    for record in records:
        name = record.name + "."
        if record.type == "TXT":
            data = " ".join(f'"{part}"' for part in txt_strings(record.value))
        elif record.type == "MX":
            data = f"{record.priority} {record.value}."
        else:
            data = record.value + "."
        lines.append(f"{name}\t3600\tIN\t{record.type}\t{data}")
    return "\n".join(lines) + "\n"
