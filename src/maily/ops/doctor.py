"""`maily doctor`: is this installation configured and can it reach what it needs?

Each check returns findings (ok, warn or fail, with a sentence for the operator):
configuration, PostgreSQL (and whether the schema is at the newest migration), Redis,
object storage (a probe object written, read back and deleted), the SMTP relay when
one is configured, and the DNS records of every sending domain. A check that cannot
run fails with the reason; one check failing does not stop the others.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, cast

from redis.asyncio import Redis
from sqlalchemy import select, text

from maily.config import Environment, Settings
from maily.delivery.domains.records import RecordStatus, expected_records
from maily.delivery.domains.verification import DnsLookup, check_records
from maily.kit.db import create_engine, create_sessionmaker
from maily.kit.storage import storage_from_settings
from maily.models import SendingDomain

# PostgreSQL and Redis versions Maily is built and tested against, at the least.
MIN_POSTGRES = 140000  # server_version_num of 14.0
MIN_REDIS = (6, 2)  # streams' XAUTOCLAIM


class Status(StrEnum):
    ok = "ok"
    warn = "warn"
    fail = "fail"


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str

    def to_json(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def _reason(exc: BaseException) -> str:
    text_ = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text_}"[:300]


class Doctor:
    """Runs the checks against the configured stores. `lookup` replaces the DNS
    resolver the settings describe (tests point it at a local server)."""

    def __init__(
        self, settings: Settings, *, lookup: DnsLookup | None = None, timeout: float = 10.0
    ) -> None:
        self.settings = settings
        self.lookup = lookup or DnsLookup.from_settings(settings.delivery)
        self.timeout = timeout

    async def run(self) -> list[Finding]:
        findings = self.configuration()
        checks: list[tuple[str, Callable[[], Awaitable[list[Finding]]]]] = [
            ("database", self.database),
            ("redis", self.redis),
            ("storage", self.storage),
            ("smtp", self.smtp),
            ("sending domains", self.sending_domains),
        ]
        for name, check in checks:
            try:
                async with asyncio.timeout(self.timeout * 3):
                    findings.extend(await check())
            except TimeoutError:
                findings.append(
                    Finding(name, Status.fail, f"no answer within {self.timeout * 3:g}s")
                )
            except Exception as exc:
                findings.append(Finding(name, Status.fail, _reason(exc)))
        return findings

    # -- configuration ------------------------------------------------------------------

    def configuration(self) -> list[Finding]:
        s = self.settings
        found = [
            Finding(
                "configuration",
                Status.ok,
                f"environment {s.environment.value}, transport {s.transport}",
            )
        ]
        production = s.environment is Environment.production
        if s.environment is Environment.development:
            found.append(
                Finding(
                    "configuration", Status.warn, "development mode: default secrets are accepted"
                )
            )
        if production and not s.api.public_url:
            found.append(
                Finding(
                    "configuration",
                    Status.warn,
                    "MAILY_API__PUBLIC_URL is not set: links in mail point at the API's bind address",
                )
            )
        if production and s.transport == "outbox":
            found.append(
                Finding(
                    "configuration",
                    Status.warn,
                    "MAILY_TRANSPORT is outbox: mail is kept for viewing, not delivered",
                )
            )
        if production and s.storage.backend == "local":
            found.append(
                Finding(
                    "configuration",
                    Status.warn,
                    "object storage is a local folder: other replicas cannot see its files",
                )
            )
        return found

    # -- stores -------------------------------------------------------------------------

    async def database(self) -> list[Finding]:
        url = self.settings.database.url
        if not url:
            return [Finding("database", Status.fail, "MAILY_DATABASE_URL is not set")]
        from alembic.script import ScriptDirectory

        from maily.kit.db.migrate import alembic_config

        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            async with engine.connect() as connection:
                version_num = int(
                    (await connection.execute(text("SHOW server_version_num"))).scalar_one()
                )
                version = (await connection.execute(text("SHOW server_version"))).scalar_one()
                has_table = (
                    await connection.execute(
                        text("SELECT to_regclass('alembic_version') IS NOT NULL")
                    )
                ).scalar_one()
                current = (
                    (
                        await connection.execute(text("SELECT version_num FROM alembic_version"))
                    ).scalar()
                    if has_table
                    else None
                )
        finally:
            await engine.dispose()
        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        found = [
            Finding(
                "database",
                Status.ok if version_num >= MIN_POSTGRES else Status.fail,
                f"PostgreSQL {version}"
                + ("" if version_num >= MIN_POSTGRES else " (14 or newer is needed)"),
            )
        ]
        if current == head:
            found.append(
                Finding("migrations", Status.ok, f"schema at the newest revision ({head})")
            )
        else:
            found.append(
                Finding(
                    "migrations",
                    Status.fail,
                    f"schema at {current or 'nothing'}, code expects {head}: run `maily migrate`",
                )
            )
        return found

    async def redis(self) -> list[Finding]:
        url = self.settings.redis.url
        if not url:
            return [Finding("redis", Status.fail, "MAILY_REDIS_URL is not set")]
        client = Redis.from_url(
            url, socket_connect_timeout=self.timeout, socket_timeout=self.timeout
        )
        try:
            # redis-py types commands as "bool or awaitable" to cover its sync client too.
            await cast(Awaitable[bool], client.ping())
            info: dict[str, Any] = await client.info("server")
            version = str(info.get("redis_version", "0"))
            try:
                policy = (await client.config_get("maxmemory-policy")).get("maxmemory-policy")
            except Exception:  # managed services may refuse CONFIG
                policy = None
        finally:
            await client.aclose()
        parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
        found = [
            Finding(
                "redis",
                Status.ok if parts >= MIN_REDIS else Status.fail,
                f"Redis {version}" + ("" if parts >= MIN_REDIS else " (6.2 or newer is needed)"),
            )
        ]
        if policy not in (None, "noeviction"):
            found.append(
                Finding(
                    "redis",
                    Status.warn,
                    f"maxmemory-policy is {policy}: queued jobs and unread events may be evicted; use noeviction",
                )
            )
        return found

    async def storage(self) -> list[Finding]:
        storage = storage_from_settings(self.settings)
        key = f"maily-doctor/{uuid.uuid4().hex}"
        payload = b"maily doctor probe"
        try:
            await storage.put_bytes(key, payload, content_type="text/plain")
            try:
                read = await storage.get_bytes(key)
            finally:
                await storage.delete(key)
        finally:
            await storage.aclose()
        where = (
            f"S3 bucket {self.settings.storage.s3_bucket}"
            if self.settings.storage.backend == "s3"
            else "local folder"
        )
        if read != payload:
            return [Finding("storage", Status.fail, f"{where}: a probe object came back different")]
        return [Finding("storage", Status.ok, f"{where}: wrote, read and deleted a probe object")]

    async def smtp(self) -> list[Finding]:
        smtp = self.settings.smtp
        if not smtp.host:
            if self.settings.transport == "smtp":
                return [
                    Finding(
                        "smtp",
                        Status.fail,
                        "MAILY_TRANSPORT is smtp, but MAILY_SMTP__HOST is not set",
                    )
                ]
            return []
        from maily.delivery.transports.smtp import SMTPTransport
        from maily.delivery.transports.smtp.client import SMTPConnection

        transport = SMTPTransport.from_settings(smtp)
        try:
            connection = await SMTPConnection.open(transport.server)
            extensions = sorted(connection.extensions)
            await connection.aclose()
        finally:
            await transport.aclose()
        where = f"{smtp.host}:{smtp.effective_port}"
        signed_in = " signed in," if smtp.username else ""
        return [
            Finding(
                "smtp",
                Status.ok,
                f"{where} ({smtp.security.value}):{signed_in} offers {', '.join(extensions) or 'no extensions'}",
            )
        ]

    async def sending_domains(self) -> list[Finding]:
        url = self.settings.database.url
        if not url:
            return []
        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            # Every workspace's domains: the operator's view, read-only.
            async with create_sessionmaker(engine)() as session:
                domains = list(
                    (
                        await session.scalars(select(SendingDomain).order_by(SendingDomain.domain))
                    ).all()
                )
        finally:
            await engine.dispose()
        if not domains:
            return [Finding("sending domains", Status.ok, "no sending domain is set up yet")]
        found = []
        for domain in domains:
            results = await check_records(
                expected_records(domain, self.settings), self.lookup, domain.domain
            )
            wrong = {
                p.value: r for p, r in results.items() if r.status is not RecordStatus.verified
            }
            if not wrong:
                found.append(
                    Finding(
                        f"dns {domain.domain}",
                        Status.ok,
                        "DKIM, return path and DMARC records as asked",
                    )
                )
                continue
            failed_lookups = all(r.status is RecordStatus.lookup_failed for r in wrong.values())
            found.append(
                Finding(
                    f"dns {domain.domain}",
                    Status.fail if failed_lookups else Status.warn,
                    "; ".join(
                        f"{purpose}: {r.status.value}" + (f" ({r.detail})" if r.detail else "")
                        for purpose, r in sorted(wrong.items())
                    ),
                )
            )
        return found


def worst(findings: list[Finding]) -> Status:
    statuses = {f.status for f in findings}
    for status in (Status.fail, Status.warn):
        if status in statuses:
            return status
    return Status.ok
