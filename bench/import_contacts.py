"""A million-row contact import through Maily's import job, against a bare COPY.

Generates a CSV (email, two names, three custom fields; 5% invalid rows, 5% repeated
addresses), uploads it through the import service (streamed to storage, sniffed,
mapping guessed), runs the import job exactly as the worker does (its own transaction,
committed at the end), then COPYs the same valid rows into a bare table of the file's
shape in the same database. Prints one JSON line of figures: `maily_rows_per_s` counts
every row of the file (invalid and repeated ones too) over the job's time, commit
included; `copy_rows_per_s` counts the valid rows over the COPY's time. Needs
MAILY_DATABASE_URL and MAILY_REDIS_URL; the workspace it creates is deleted afterwards
(--keep keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text

from maily.auth.service import Principal, WorkspaceContext
from maily.config import Settings
from maily.contacts.imports.job import ImportJob
from maily.contacts.imports.progress import ProgressStore, Snapshot
from maily.contacts.imports.repository import ImportRepository
from maily.contacts.imports.service import ImportService
from maily.kit.db import create_engine, create_sessionmaker, transaction
from maily.kit.db.engine import async_url
from maily.kit.queue import JobContext, set_current_queue
from maily.kit.storage import storage_from_settings
from maily.models import CustomField, Workspace

FIRST = ["Ann", "Bob", "Carla", "Dmitri", "Eve", "Fatima", "Gus", "Hana", "Ivo", "Jules"]
LAST = ["Smith", "Jones", "Müller", "García", "Kowalski", "Nguyen", "O'Brien", "Rossi"]
COMPANIES = [f"Company {n}" for n in range(2000)]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def generate(path: Path, valid_path: Path, rows: int, invalid: float, duplicates: float) -> int:
    """Write the import file, and the valid first occurrences as a COPY source."""
    rng = random.Random(20261125)
    emails: list[str] = []
    with (
        path.open("w", newline="", encoding="utf-8") as out,
        valid_path.open("w", newline="", encoding="utf-8") as valid_out,
    ):
        writer = csv.writer(out)
        valid = csv.writer(valid_out)
        writer.writerow(["Email", "First name", "Last name", "Company", "Score", "Joined"])
        for n in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            row = [
                "",
                first,
                last,
                rng.choice(COMPANIES),
                str(rng.randrange(0, 1000)),
                f"20{rng.randrange(10, 26)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            ]
            draw = rng.random()
            if draw < invalid:
                row[0] = f"{first.lower()}.{n}(at)example.com"
                writer.writerow(row)
                continue
            if draw < invalid + duplicates and emails:
                row[0] = rng.choice(emails).upper()  # differs only in case: still a repeat
                writer.writerow(row)
                continue
            email = f"{first.lower()}.{n}@mail{n % 5000}.example"
            emails.append(email)
            row[0] = email
            writer.writerow(row)
            valid.writerow(row)
    return len(emails)


class TimedProgress(ProgressStore):
    """The real Redis progress store, noting when each phase began."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis)
        self.phases: dict[str, float] = {}

    async def publish(self, import_id: uuid.UUID, snapshot: Snapshot) -> None:
        self.phases.setdefault(snapshot.phase, time.perf_counter())
        await super().publish(import_id, snapshot)


class DroppedJobs:
    """Stands in for the job queue: the bench runs no worker for follow-up jobs."""

    async def enqueue(self, task: str, /, **kwargs: Any) -> str:
        return "dropped"


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := await asyncio.to_thread(file.read, 1024 * 1024):
            yield chunk


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    if not settings.database.url or not settings.redis.url:
        raise SystemExit("set MAILY_DATABASE_URL and MAILY_REDIS_URL")
    folder = Path(tempfile.mkdtemp(prefix="maily-bench-import-"))
    if settings.storage.backend == "local":
        settings.storage.local_path = folder / "objects"
    settings.storage.max_upload_bytes = 4 * 1024**3
    source, valid_source = folder / "contacts.csv", folder / "valid.csv"

    started = time.perf_counter()
    valid_rows = generate(source, valid_source, args.rows, args.invalid, args.duplicates)
    log(f"generated {args.rows} rows ({valid_rows} valid) in {time.perf_counter() - started:.1f} s")

    engine = create_engine(settings.database.url, pool_size=2)
    sessionmaker = create_sessionmaker(engine)
    storage = storage_from_settings(settings)
    redis = Redis.from_url(settings.redis.url)
    set_current_queue(DroppedJobs())  # type: ignore[arg-type]
    workspace_id = uuid.uuid4()
    try:
        async with transaction(sessionmaker) as session:
            session.add(Workspace(id=workspace_id, name="bench", slug=f"bench-{workspace_id.hex}"))
            await session.flush()
            for key, type_ in (("company", "text"), ("score", "number"), ("joined", "date")):
                session.add(
                    CustomField(workspace_id=workspace_id, key=key, label=key.title(), type=type_)
                )

        # The upload path: streamed to storage, encoding and dialect sniffed, mapping guessed.
        ctx = WorkspaceContext(workspace_id, Principal(), None, frozenset())
        progress = TimedProgress(redis)
        started = time.perf_counter()
        async with transaction(sessionmaker) as session:
            service = ImportService(session, storage, progress)
            record, _ = await service.upload(
                ctx, source.name, file_chunks(source), max_bytes=settings.storage.max_upload_bytes
            )
            import_id = record.id
            mapping = dict(record.mapping)
            await ImportRepository(session).transition(
                workspace_id, import_id, from_statuses=("uploaded",), values={"status": "queued"}
            )
        upload_seconds = time.perf_counter() - started
        log(f"uploaded in {upload_seconds:.1f} s; mapping {mapping}")

        # The job, as the worker runs it: one transaction, committed at the end.
        started = time.perf_counter()
        async with transaction(sessionmaker) as session:
            context = JobContext(
                session=session, settings=settings, job_id="bench", task="bench", attempt=1
            )
            await ImportJob(context.session, storage, progress).run(
                workspace_id, import_id, final_attempt=True
            )
        maily_seconds = time.perf_counter() - started
        async with transaction(sessionmaker) as session:
            done = await ImportRepository(session).get(workspace_id, import_id)
            assert done is not None
            if done.status != "completed" or done.rows_created != valid_rows:
                raise SystemExit(f"import did not do its work: {done.status} {done.error}")
            outcome = {
                "created": done.rows_created,
                "invalid": done.rows_invalid,
                "total": done.rows_total,
            }
        log(f"maily import: {maily_seconds:.1f} s, {outcome}")
        phases = dict(sorted(progress.phases.items(), key=lambda item: item[1]))
        marks = [*phases.values(), started + maily_seconds]
        phase_seconds = {
            name: round(marks[i + 1] - marks[i], 2)
            for i, name in enumerate(phases)
            if name != "done"
        }

        copy_seconds = await copy_bare(settings.database.url, valid_source)
        log(f"bare COPY: {copy_seconds:.1f} s")
        figures: dict[str, Any] = {}
        if args.indexed_copy:
            indexed = await copy_indexed(settings.database.url, valid_source, workspace_id)
            figures["copy_contacts_shape_rows_per_s"] = round(valid_rows / indexed)
            log(f"COPY into a table shaped like contacts, with its indexes: {indexed:.1f} s")
    finally:
        if not args.keep:
            async with transaction(sessionmaker) as session:
                await session.execute(
                    text("DELETE FROM workspaces WHERE id = :id"), {"id": workspace_id}
                )
            # Without this the next run inserts into a contacts table (and indexes) full
            # of this run's dead rows, and measures the bloat.
            async with engine.connect() as conn:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text("VACUUM contacts"))
        await redis.aclose()
        await storage.aclose()
        await engine.dispose()
        # The file, the COPY source, and the stored upload and report (the local backend).
        shutil.rmtree(folder, ignore_errors=True)

    return {
        "bench": "import_contacts",
        "rows": args.rows,
        "valid_rows": valid_rows,
        "file_bytes": record.size_bytes,
        "upload_seconds": round(upload_seconds, 2),
        "maily_seconds": round(maily_seconds, 2),
        "maily_rows_per_s": round(args.rows / maily_seconds),
        "maily_phase_seconds": phase_seconds,
        "copy_seconds": round(copy_seconds, 2),
        "copy_rows_per_s": round(valid_rows / copy_seconds),
        "maily_to_copy": round((args.rows / maily_seconds) / (valid_rows / copy_seconds), 3),
        **figures,
    }


async def copy_bare(database_url: str, valid_source: Path) -> float:
    """COPY the valid rows, as CSV parsed by the server, into a bare table of the file's
    shape (no keys, no indexes), in one transaction like the import's."""
    import asyncpg

    conn = await asyncpg.connect(async_url(database_url).replace("+asyncpg", ""))
    try:
        table = f"bench_copy_{os.getpid()}"
        await conn.execute(
            f"CREATE TABLE {table} (email text, first_name text, last_name text, "
            "company text, score numeric, joined date)"
        )
        try:
            started = time.perf_counter()
            async with conn.transaction():
                await conn.copy_to_table(table, source=valid_source, format="csv")
            return time.perf_counter() - started
        finally:
            await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()


async def copy_indexed(database_url: str, valid_source: Path, workspace_id: uuid.UUID) -> float:
    """COPY the same rows into a table made LIKE contacts INCLUDING ALL (its columns,
    generated hash and domain, and all seven indexes): what writing contacts costs
    PostgreSQL with no Maily in between."""
    import asyncpg

    from maily.kit.db.base import new_uuid

    with valid_source.open(newline="", encoding="utf-8") as file:
        records = [
            (
                workspace_id,
                new_uuid(),
                row[0],
                row[1],
                row[2],
                json.dumps({"company": row[3], "score": int(row[4]), "joined": row[5]}),
                "import",
            )
            for row in csv.reader(file)
        ]
    conn = await asyncpg.connect(async_url(database_url).replace("+asyncpg", ""))
    try:
        table = f"bench_contacts_{os.getpid()}"
        await conn.execute(f"CREATE TABLE {table} (LIKE contacts INCLUDING ALL)")
        try:
            started = time.perf_counter()
            async with conn.transaction():
                await conn.copy_records_to_table(
                    table,
                    records=records,
                    columns=[
                        "workspace_id",
                        "id",
                        "email",
                        "first_name",
                        "last_name",
                        "fields",
                        "source",
                    ],
                )
            return time.perf_counter() - started
        finally:
            await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--invalid", type=float, default=0.05, help="share of invalid rows")
    parser.add_argument("--duplicates", type=float, default=0.05, help="share of repeats")
    parser.add_argument(
        "--indexed-copy",
        action="store_true",
        help="also COPY into a table shaped like contacts, with all its indexes",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench workspace")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args))))


if __name__ == "__main__":
    main()
