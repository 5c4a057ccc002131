"""Looking up a sending domain's records in DNS and judging each one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from maily.config import DeliverySettings
from maily.delivery.domains.records import ExpectedRecord, RecordPurpose, RecordStatus

__all__ = ["CheckResult", "DnsLookup", "LookupFailed", "check_records"]

# Biggest UDP answer we ask for (the DNS flag day 2020 figure); bigger ones come by TCP.
EDNS_PAYLOAD = 1232
# Longest wait for one try of a query before it is sent again (dnspython's default).
TRY_TIMEOUT = 2.0


class LookupFailed(Exception):
    """The resolver gave no answer (timeout, SERVFAIL, refused): nothing is known."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: RecordStatus
    detail: str | None = None
    # What DNS holds at the name, for showing next to what was asked.
    found: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"status": self.status.value, "detail": self.detail, "found": self.found}


class DnsLookup:
    """Asks the configured resolvers, with no cache: a check must see what was just
    published, not what a lookup an hour ago found missing."""

    def __init__(
        self, nameservers: Sequence[str] = (), port: int = 53, timeout: float = 5.0
    ) -> None:
        self._nameservers = list(nameservers)
        self._port = port
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: DeliverySettings) -> DnsLookup:
        return cls(settings.dns_nameservers, settings.dns_port, settings.dns_timeout_seconds)

    def _resolver(self) -> dns.asyncresolver.Resolver:
        try:
            resolver = dns.asyncresolver.Resolver(configure=not self._nameservers)
        except dns.resolver.NoResolverConfiguration as exc:
            raise LookupFailed("no DNS resolver is configured on this host") from exc
        if self._nameservers:
            resolver.nameservers = self._nameservers
        resolver.port = self._port
        # The setting bounds the whole lookup; each try gets a part of it, so a lost
        # UDP datagram is sent again instead of failing the check.
        resolver.lifetime = self._timeout
        resolver.timeout = min(TRY_TIMEOUT, self._timeout / 2)
        resolver.use_edns(0, 0, EDNS_PAYLOAD)
        return resolver

    async def _answer(self, name: str, rdtype: str) -> list[object]:
        """The records of `rdtype` at `name`; [] when there are none."""
        resolver = self._resolver()
        try:
            answer = await resolver.resolve(
                dns.name.from_text(name), rdtype, raise_on_no_answer=False, search=False
            )
        except dns.resolver.NXDOMAIN:
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise LookupFailed(f"no DNS answer for {name} {rdtype}: {exc}") from exc
        except dns.exception.DNSException as exc:
            raise LookupFailed(f"DNS lookup of {name} {rdtype} failed: {exc}") from exc
        if answer.rrset is None:
            return []
        # resolve() follows CNAMEs; keep only records of the type asked for.
        return [rdata for rdata in answer.rrset if rdata.rdtype == dns.rdatatype.from_text(rdtype)]

    async def txt(self, name: str) -> list[str]:
        """Each TXT record with its strings joined, as DKIM/SPF/DMARC read them."""
        records = await self._answer(name, "TXT")
        return [
            b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
            for rdata in records
        ]

    async def cname(self, name: str) -> list[str]:
        records = await self._answer(name, "CNAME")
        return [_host(rdata.target.to_text()) for rdata in records]  # type: ignore[attr-defined]

    async def mx(self, name: str) -> list[tuple[int, str]]:
        records = await self._answer(name, "MX")
        return [
            (rdata.preference, _host(rdata.exchange.to_text()))  # type: ignore[attr-defined]
            for rdata in records
        ]


def _host(name: str) -> str:
    return name.rstrip(".").lower()


def _tags(record: str) -> dict[str, str]:
    """`k=v; k=v` tag lists (DKIM key records, DMARC), names lowercased."""
    tags = {}
    for part in record.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            tags[name.strip().lower()] = "".join(value.split())
    return tags


def judge_dkim(expected: ExpectedRecord, found: list[str]) -> CheckResult:
    if not found:
        return CheckResult(RecordStatus.missing, f"no TXT record at {expected.name}")
    want = _tags(expected.value)
    for record in found:
        tags = _tags(record)
        if (
            tags.get("p") == want["p"]
            and tags.get("k", "rsa") == want["k"]
            and tags.get("v", "DKIM1") == "DKIM1"
        ):
            return CheckResult(RecordStatus.verified, found=found)
    return CheckResult(
        RecordStatus.mismatch,
        "the TXT record there does not hold this domain's DKIM key (check p= is complete)",
        found,
    )


def _spf_terms(record: str) -> set[str]:
    # A leading "+" is the default qualifier: "+include:x" is "include:x".
    return {term.lower().removeprefix("+") for term in record.split()[1:]}


def judge_spf(expected: ExpectedRecord, found: list[str]) -> CheckResult:
    spf = [r for r in found if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 ")]
    if not spf:
        return CheckResult(RecordStatus.missing, f"no SPF record at {expected.name}", found)
    if len(spf) > 1:
        return CheckResult(
            RecordStatus.mismatch,
            "more than one SPF record: receivers treat that as a permanent error "
            "(RFC 7208 §4.5); merge them into one",
            spf,
        )
    have = _spf_terms(spf[0])
    missing = [t for t in _spf_terms(expected.value) if t != "~all" and t not in have]
    if missing:
        return CheckResult(
            RecordStatus.mismatch, "the SPF record lacks " + ", ".join(sorted(missing)), spf
        )
    return CheckResult(RecordStatus.verified, found=spf)


def _dmarc(found: list[str]) -> list[str]:
    return [r for r in found if _tags(r).get("v", "").upper() == "DMARC1"]


async def judge_dmarc(expected: ExpectedRecord, lookup: DnsLookup, domain: str) -> CheckResult:
    """A DMARC policy at `_dmarc.<domain>`, or failing that at a parent domain (the
    organisational domain's policy covers its subdomains, RFC 7489 §6.6.3)."""
    labels = domain.split(".")
    for start in range(len(labels) - 1):
        name = "_dmarc." + ".".join(labels[start:])
        records = _dmarc(await lookup.txt(name))
        if not records:
            continue
        if len(records) > 1:
            return CheckResult(
                RecordStatus.mismatch,
                f"more than one DMARC record at {name}: receivers ignore both",
                records,
            )
        policy = _tags(records[0]).get("p", "").lower()
        if policy not in ("none", "quarantine", "reject"):
            return CheckResult(
                RecordStatus.mismatch,
                f"the DMARC record at {name} has no valid policy (p=none, quarantine or reject)",
                records,
            )
        detail = None if start == 0 else f"covered by the policy published at {name}"
        return CheckResult(RecordStatus.verified, detail, records)
    return CheckResult(RecordStatus.missing, f"no DMARC record at {expected.name}")


def judge_cname(expected: ExpectedRecord, found: list[str]) -> CheckResult:
    if not found:
        return CheckResult(RecordStatus.missing, f"no CNAME record at {expected.name}")
    if _host(expected.value) in found:
        return CheckResult(RecordStatus.verified, found=found)
    return CheckResult(RecordStatus.mismatch, f"the CNAME should point to {expected.value}", found)


def judge_mx(expected: ExpectedRecord, found: list[tuple[int, str]]) -> CheckResult:
    shown = [f"{preference} {host}" for preference, host in found]
    if not found:
        return CheckResult(RecordStatus.missing, f"no MX record at {expected.name}")
    if any(host == _host(expected.value) for _, host in found):
        return CheckResult(RecordStatus.verified, found=shown)
    return CheckResult(
        RecordStatus.mismatch, f"bounces must be delivered to {expected.value}", shown
    )


async def check_record(
    expected: ExpectedRecord, lookup: DnsLookup, domain: str
) -> tuple[RecordPurpose, CheckResult]:
    try:
        if expected.purpose is RecordPurpose.dmarc:
            return expected.purpose, await judge_dmarc(expected, lookup, domain)
        if expected.type == "CNAME":
            return expected.purpose, judge_cname(expected, await lookup.cname(expected.name))
        if expected.type == "MX":
            return expected.purpose, judge_mx(expected, await lookup.mx(expected.name))
        found = await lookup.txt(expected.name)
        if expected.purpose is RecordPurpose.dkim:
            return expected.purpose, judge_dkim(expected, found)
        return expected.purpose, judge_spf(expected, found)
    except LookupFailed as exc:
        return expected.purpose, CheckResult(RecordStatus.lookup_failed, str(exc))


async def check_records(
    records: Sequence[ExpectedRecord], lookup: DnsLookup, domain: str
) -> dict[RecordPurpose, CheckResult]:
    """Every record looked up at once; one result per purpose."""
    results = await asyncio.gather(*(check_record(r, lookup, domain) for r in records))
    return dict(results)
