"""`maily doctor` against real PostgreSQL, Redis, object storage, an SMTP server and DNS."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from maily.api.state import AppState
from maily.cli import app
from maily.config import DeliverySettings, Settings, SMTPSecurity, get_settings
from maily.delivery.dkim import DkimAlgorithm, generate_key
from maily.delivery.domains.records import expected_records
from maily.delivery.domains.verification import DnsLookup
from maily.kit.db import transaction
from maily.models import SendingDomain
from maily.ops.doctor import Doctor, Finding, Status, worst
from tests.campaigns.support import World
from tests.conftest import (
    TEST_ENCRYPTION_KEY,
    TEST_SECRET_KEY,
    Stores,
    _psycopg_conninfo,
    create_database,
)
from tests.delivery.domains.dns_server import LocalDnsServer
from tests.delivery.smtp_server import SMTPTestServer


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def dns() -> AsyncIterator[LocalDnsServer]:
    server = LocalDnsServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def smtp() -> AsyncIterator[SMTPTestServer]:
    async with SMTPTestServer() as server:
        yield server


@pytest.fixture
async def domain(world: World, app_state: AppState) -> AsyncIterator[SendingDomain]:
    """A sending domain of the world's workspace (app_state sets up the secret box)."""
    name = f"doctor-{uuid.uuid4().hex[:8]}.test"
    key = generate_key(DkimAlgorithm.ed25519_sha256)
    async with transaction(world.sessionmaker) as session:
        row = SendingDomain(
            workspace_id=world.workspace_id,
            domain=name,
            dkim_selector="mly1",
            dkim_algorithm=key.algorithm.value,
            dkim_private_key=key.private_key_pem,
            dkim_public_key=key.public_key,
            return_path_domain=f"bounces.{name}",
            dns_checks={},
        )
        session.add(row)
    yield row
    async with transaction(world.sessionmaker) as session:
        await session.execute(delete(SendingDomain).where(SendingDomain.id == row.id))


def doctor_settings(
    settings: Settings, tmp_path: Path, dns: LocalDnsServer, **overrides: Any
) -> Settings:
    delivery = DeliverySettings(
        dns_nameservers=["127.0.0.1"],
        dns_port=dns.port,
        dns_timeout_seconds=10.0,
        return_path_mx_host="mx.maily.test",
    )
    values: dict[str, Any] = {
        "delivery": delivery,
        "storage": settings.storage.model_copy(update={"local_path": tmp_path}),
        **overrides,
    }
    return settings.model_copy(update=values)


def publish(dns: LocalDnsServer, domain: SendingDomain, settings: Settings) -> None:
    for record in expected_records(domain, settings):
        if record.type == "MX":
            dns.set(record.name, "MX", f"{record.priority} {record.value}.")
        else:
            dns.set(record.name, record.type, record.value)


def by_check(findings: list[Finding]) -> dict[str, list[Finding]]:
    found: dict[str, list[Finding]] = {}
    for finding in findings:
        found.setdefault(finding.check, []).append(finding)
    return found


async def test_a_healthy_installation(
    settings: Settings,
    tmp_path: Path,
    dns: LocalDnsServer,
    smtp: SMTPTestServer,
    domain: SendingDomain,
) -> None:
    checked = doctor_settings(
        settings,
        tmp_path,
        dns,
        smtp=settings.smtp.model_copy(
            update={"host": "127.0.0.1", "port": smtp.port, "security": SMTPSecurity.none}
        ),
    )
    publish(dns, domain, checked)
    findings = await Doctor(checked, lookup=DnsLookup.from_settings(checked.delivery)).run()
    found = by_check(findings)
    assert [f.status for f in found["database"]] == [Status.ok]
    assert found["database"][0].detail.startswith("PostgreSQL ")
    assert found["migrations"][0].status is Status.ok
    assert found["redis"][0].status is Status.ok
    assert found["storage"] == [
        Finding("storage", Status.ok, "local folder: wrote, read and deleted a probe object")
    ]
    assert found["smtp"][0].status is Status.ok
    assert "PIPELINING" in found["smtp"][0].detail
    assert found[f"dns {domain.domain}"] == [
        Finding(f"dns {domain.domain}", Status.ok, "DKIM, return path and DMARC records as asked")
    ]
    # The probe object is gone again.
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]
    assert worst(findings) is not Status.fail, findings


async def test_what_cannot_be_reached_fails_and_missing_records_warn(
    settings: Settings, tmp_path: Path, dns: LocalDnsServer, domain: SendingDomain
) -> None:
    checked = doctor_settings(
        settings,
        tmp_path,
        dns,
        transport="smtp",
        redis=settings.redis.model_copy(update={"url": f"redis://127.0.0.1:{closed_port()}/0"}),
        smtp=settings.smtp.model_copy(
            update={"host": "127.0.0.1", "port": closed_port(), "security": SMTPSecurity.none}
        ),
    )
    publish(dns, domain, checked)
    dns.records.pop((f"_dmarc.{domain.domain}", "TXT"))
    findings = await Doctor(
        checked, lookup=DnsLookup.from_settings(checked.delivery), timeout=2
    ).run()
    found = by_check(findings)
    assert found["database"][0].status is Status.ok
    (redis,) = found["redis"]
    assert redis.status is Status.fail
    assert "ConnectionError" in redis.detail
    (smtp,) = found["smtp"]
    assert smtp.status is Status.fail
    assert "connecting to 127.0.0.1" in smtp.detail
    (dns_finding,) = found[f"dns {domain.domain}"]
    assert dns_finding.status is Status.warn
    assert dns_finding.detail == f"dmarc: missing (no DMARC record at _dmarc.{domain.domain})"
    assert worst(findings) is Status.fail


async def test_a_resolver_that_does_not_answer_fails_the_domain(
    settings: Settings, tmp_path: Path, dns: LocalDnsServer, domain: SendingDomain
) -> None:
    dns.silent = True
    checked = doctor_settings(settings, tmp_path, dns)
    lookup = DnsLookup(["127.0.0.1"], dns.port, timeout=0.5)
    found = by_check(await Doctor(checked, lookup=lookup).run())
    (finding,) = found[f"dns {domain.domain}"]
    assert finding.status is Status.fail
    assert "lookup_failed" in finding.detail


async def test_a_schema_behind_the_code_fails(
    settings: Settings, stores: Stores, tmp_path: Path, dns: LocalDnsServer
) -> None:
    from maily.kit.db.migrate import upgrade

    # A fresh database migrated to the first revision only.
    url = create_database(stores, f"maily_doctor_{uuid.uuid4().hex[:8]}")
    try:
        await asyncio.to_thread(upgrade, url, "0001")
        checked = doctor_settings(
            settings, tmp_path, dns, database=settings.database.model_copy(update={"url": url})
        )
        found = by_check(await Doctor(checked).run())
    finally:
        drop_database(stores, url)
    (migrations,) = found["migrations"]
    assert migrations.status is Status.fail
    assert migrations.detail.startswith("schema at 0001, code expects ")
    assert migrations.detail.endswith("run `maily migrate`")


def drop_database(stores: Stores, url: str) -> None:
    name = url.partition("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(_psycopg_conninfo(stores.admin_database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    assert settings.database.url
    for key, value in {
        "MAILY_ENVIRONMENT": "test",
        "MAILY_DATABASE_URL": settings.database.url,
        "MAILY_REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
        "MAILY_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
        "MAILY_SECURITY__ENCRYPTION_KEYS": f'["{TEST_ENCRYPTION_KEY}"]',
        "MAILY_STORAGE__LOCAL_PATH": str(tmp_path),
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_command_prints_findings_and_exits_1_on_a_failure(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("ok    database: PostgreSQL") for line in lines), result.output
    assert any(line.startswith("fail  redis: ") for line in lines), result.output

    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    statuses = {
        json.loads(line)["check"]: json.loads(line)["status"] for line in result.output.splitlines()
    }
    assert statuses["redis"] == "fail"
    assert statuses["storage"] == "ok"
