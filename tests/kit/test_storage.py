"""Object storage: the same cases against the local folder and a real S3-compatible server."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from maily.config import Settings, StorageSettings
from maily.kit.storage import (
    InvalidObjectKey,
    LocalObjectStorage,
    ObjectNotFound,
    ObjectStorage,
    ObjectTooLarge,
    StoredObject,
    storage_from_settings,
)
from maily.kit.storage.s3 import DEFAULT_PART_SIZE, S3ObjectStorage
from tests.kit.s3_server import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    S3Server,
    running_s3_server,
)

BUCKET = "maily-test"
MiB = 1024 * 1024
Leftovers = Callable[[], list[str]]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        server.client.create_bucket(Bucket=BUCKET)
        yield server


def make_settings(tmp_path: Path, **storage: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, storage=StorageSettings(**storage))


@pytest.fixture(params=["local", "s3"])
def storage_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "local":
        return make_settings(tmp_path)
    server: S3Server = request.getfixturevalue("s3_server")
    return make_settings(
        tmp_path,
        backend="s3",
        s3_bucket=BUCKET,
        s3_endpoint_url=server.endpoint_url,
        s3_region=REGION,
        s3_access_key_id=ACCESS_KEY_ID,
        s3_secret_access_key=SECRET_ACCESS_KEY,
        # Each test gets its own corner of the shared bucket.
        s3_prefix=f"test-{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture
async def storage(storage_settings: Settings) -> AsyncIterator[ObjectStorage]:
    store = storage_from_settings(storage_settings)
    yield store
    await store.aclose()


@pytest.fixture
def leftovers(storage_settings: Settings, request: pytest.FixtureRequest) -> Leftovers:
    """Everything the backend holds for this test, as the backend itself sees it: files
    and folders (temp and sidecar files included) or keys and unfinished multipart uploads."""
    config = storage_settings.storage
    if config.backend == "local":
        root = storage_settings.data_dir / "objects"

        def local() -> list[str]:
            if not root.exists():
                return []
            return sorted(str(p.relative_to(root)) for p in root.rglob("*"))

        return local
    client = request.getfixturevalue("s3_server").client
    prefix = config.s3_prefix + "/"

    def remote() -> list[str]:
        keys = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        uploads = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
        return sorted([k["Key"] for k in keys] + [f"upload:{u['Key']}" for u in uploads])

    return remote


async def chunked(
    data: bytes, size: int, consumed: list[int] | None = None
) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        chunk = data[start : start + size]
        if consumed is not None:
            consumed.append(len(chunk))
        yield chunk


async def read_all(storage: ObjectStorage, key: str, chunk_size: int = 64 * 1024) -> bytes:
    async with storage.open_read(key, chunk_size=chunk_size) as chunks:
        return b"".join([chunk async for chunk in chunks])


async def listed(storage: ObjectStorage, prefix: str = "") -> list[StoredObject]:
    return [item async for item in storage.list(prefix)]


# -- round trips ---------------------------------------------------------------


async def test_bytes_round_trip_and_stat(storage: ObjectStorage) -> None:
    data = b"<html><body>Hello {{ first_name }}</body></html>"
    stored = await storage.put_bytes("ws/1/templates/welcome.html", data)

    assert stored.key == "ws/1/templates/welcome.html"
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.content_type == "text/html"
    assert stored.etag
    assert await storage.get_bytes("ws/1/templates/welcome.html") == data
    assert await read_all(storage, "ws/1/templates/welcome.html", chunk_size=7) == data

    info = await storage.stat("ws/1/templates/welcome.html")
    assert info is not None
    assert (info.key, info.size, info.content_type, info.etag) == (
        stored.key,
        len(data),
        "text/html",
        stored.etag,
    )
    assert isinstance(info.last_modified, datetime)
    assert info.last_modified.tzinfo is not None


async def test_content_type_given_guessed_or_generic(storage: ObjectStorage) -> None:
    await storage.put_bytes("ws/1/images/logo.png", b"\x89PNG")
    await storage.put_bytes("ws/1/exports/contacts", b"a,b", content_type="text/csv")
    await storage.put_bytes("ws/1/blob", b"\x00\x01")

    types = [
        (await storage.stat(key))
        for key in ("ws/1/images/logo.png", "ws/1/exports/contacts", "ws/1/blob")
    ]
    assert [t.content_type if t else None for t in types] == [
        "image/png",
        "text/csv",
        "application/octet-stream",
    ]


async def test_unusual_but_valid_keys(storage: ObjectStorage) -> None:
    keys = ["ws/1/Résumé été 2026.pdf", "ws/1/a..b", "ws/1/x-y_z=1+2@3", "ws/1/日本語.txt"]
    for number, key in enumerate(keys):
        await storage.put_bytes(key, str(number).encode())
    for number, key in enumerate(keys):
        assert await storage.get_bytes(key) == str(number).encode()
    assert [o.key for o in await listed(storage, "ws/1/")] == sorted(keys)


async def test_overwrite_replaces_content_and_etag(storage: ObjectStorage) -> None:
    first = await storage.put_bytes("ws/1/report.txt", b"version one")
    second = await storage.put_bytes(
        "ws/1/report.txt", b"version two, longer", content_type="text/x-report"
    )

    assert first.etag != second.etag
    assert await storage.get_bytes("ws/1/report.txt") == b"version two, longer"
    info = await storage.stat("ws/1/report.txt")
    assert info is not None
    assert (info.size, info.content_type, info.etag) == (19, "text/x-report", second.etag)


async def test_missing_object(storage: ObjectStorage) -> None:
    assert await storage.stat("ws/1/nothing.txt") is None
    with pytest.raises(ObjectNotFound, match=r"ws/1/nothing\.txt"):
        await storage.get_bytes("ws/1/nothing.txt")
    with pytest.raises(ObjectNotFound):
        async with storage.open_read("ws/1/nothing.txt"):
            pass


async def test_a_folder_of_keys_is_not_an_object(storage: ObjectStorage) -> None:
    await storage.put_bytes("ws/1/images/logo.png", b"png")

    assert await storage.stat("ws/1/images") is None
    with pytest.raises(ObjectNotFound):
        await storage.get_bytes("ws/1/images")
    await storage.delete("ws/1/images")
    assert await storage.get_bytes("ws/1/images/logo.png") == b"png"


# -- streaming -----------------------------------------------------------------


async def test_streaming_upload_of_several_megabytes(storage: ObjectStorage) -> None:
    # Past one part, so S3 takes it as a multipart upload of two parts.
    data = os.urandom(DEFAULT_PART_SIZE + 3 * MiB // 2)
    consumed: list[int] = []
    stored = await storage.put_stream(
        "ws/1/imports/contacts.csv", chunked(data, 256 * 1024, consumed), content_type="text/csv"
    )

    assert sum(consumed) == len(data)
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    info = await storage.stat("ws/1/imports/contacts.csv")
    assert info is not None
    assert (info.size, info.content_type) == (len(data), "text/csv")
    if isinstance(storage, S3ObjectStorage):
        assert info.etag is not None
        assert info.etag.endswith("-2"), "S3 marks multipart ETags with their part count"

    digest = hashlib.sha256()
    sizes = []
    async with storage.open_read("ws/1/imports/contacts.csv", chunk_size=MiB) as chunks:
        async for chunk in chunks:
            sizes.append(len(chunk))
            digest.update(chunk)
    assert digest.hexdigest() == stored.sha256
    assert max(sizes) <= MiB
    assert sum(sizes) == len(data)


async def test_leaving_a_read_early_releases_it(storage: ObjectStorage) -> None:
    await storage.put_bytes("ws/1/big.bin", b"x" * (2 * MiB))
    for _ in range(3):
        async with storage.open_read("ws/1/big.bin", chunk_size=1024) as chunks:
            async for chunk in chunks:
                assert chunk == b"x" * 1024
                break
    await storage.delete("ws/1/big.bin")
    assert await storage.stat("ws/1/big.bin") is None


async def test_size_limit_stops_the_stream_and_keeps_nothing(
    storage: ObjectStorage, leftovers: Leftovers
) -> None:
    limit = 9 * MiB  # past the first S3 part, so a multipart upload is under way
    consumed: list[int] = []
    with pytest.raises(ObjectTooLarge) as caught:
        await storage.put_stream(
            "ws/1/imports/huge.csv",
            chunked(os.urandom(12 * MiB), 256 * 1024, consumed),
            max_bytes=limit,
        )

    assert caught.value.limit == limit
    assert caught.value.status_code == 413
    assert "9.0 MiB" in str(caught.value)
    assert "9437184 bytes" in str(caught.value)
    # Refused as soon as the limit passed, without draining the rest of the upload.
    assert sum(consumed) <= limit + 256 * 1024
    assert await storage.stat("ws/1/imports/huge.csv") is None
    assert await listed(storage) == []
    assert leftovers() == []


async def test_limit_of_exactly_the_size_is_allowed(storage: ObjectStorage) -> None:
    stored = await storage.put_stream("ws/1/exact.bin", chunked(b"a" * 1000, 300), max_bytes=1000)
    assert stored.size == 1000


async def test_configured_limit_is_the_default(storage_settings: Settings) -> None:
    settings = storage_settings.model_copy(
        update={"storage": storage_settings.storage.model_copy(update={"max_upload_bytes": 1000})}
    )
    store = storage_from_settings(settings)
    try:
        with pytest.raises(ObjectTooLarge, match="1000 bytes"):
            await store.put_stream("ws/1/a.bin", chunked(b"a" * 1001, 100))
        # An explicit limit wins, and bytes already in memory are not an upload.
        await store.put_stream("ws/1/b.bin", chunked(b"b" * 2000, 100), max_bytes=5000)
        await store.put_bytes("ws/1/c.bin", b"c" * 2000)
        assert [o.key for o in await listed(store)] == ["ws/1/b.bin", "ws/1/c.bin"]
    finally:
        await store.aclose()


async def test_failing_source_keeps_nothing_and_the_old_object_intact(
    storage: ObjectStorage, leftovers: Leftovers
) -> None:
    await storage.put_bytes("ws/1/imports/list.csv", b"old,content\n")
    before = leftovers()

    async def broken_upload() -> AsyncIterator[bytes]:
        async for chunk in chunked(os.urandom(DEFAULT_PART_SIZE + MiB), 512 * 1024):
            yield chunk
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.put_stream("ws/1/imports/list.csv", broken_upload())

    assert await storage.get_bytes("ws/1/imports/list.csv") == b"old,content\n"
    assert leftovers() == before


async def test_concurrent_writers_leave_one_whole_object(storage: ObjectStorage) -> None:
    bodies = [bytes([n]) * (300 * 1024) for n in range(4)]
    await asyncio.gather(
        *(storage.put_stream("ws/1/shared.bin", chunked(body, 64 * 1024)) for body in bodies)
    )
    assert await storage.get_bytes("ws/1/shared.bin") in bodies


# -- listing and deleting ------------------------------------------------------

KEYS = ["other/5.txt", "ws/a/1.txt", "ws/a/2.txt", "ws/ab/3.txt", "ws/b/4.txt"]


async def test_list_is_a_string_prefix_in_key_order(storage: ObjectStorage) -> None:
    for key in reversed(KEYS):
        await storage.put_bytes(key, key.encode())

    everything = await listed(storage)
    assert [o.key for o in everything] == KEYS
    assert [o.size for o in everything] == [len(k) for k in KEYS]
    assert all(o.etag and o.last_modified for o in everything)
    assert [o.key for o in await listed(storage, "ws/a/")] == ["ws/a/1.txt", "ws/a/2.txt"]
    assert [o.key for o in await listed(storage, "ws/a")] == [
        "ws/a/1.txt",
        "ws/a/2.txt",
        "ws/ab/3.txt",
    ]
    assert [o.key for o in await listed(storage, "ws/a/1")] == ["ws/a/1.txt"]
    assert await listed(storage, "nothing/") == []


async def test_delete_is_idempotent(storage: ObjectStorage, leftovers: Leftovers) -> None:
    await storage.put_bytes("ws/1/attachments/a.pdf", b"%PDF")
    await storage.delete("ws/1/attachments/a.pdf")
    await storage.delete("ws/1/attachments/a.pdf")
    await storage.delete("ws/1/never-was.pdf")

    assert await storage.stat("ws/1/attachments/a.pdf") is None
    assert leftovers() == []


async def test_delete_prefix_erases_a_workspace(
    storage: ObjectStorage, leftovers: Leftovers
) -> None:
    for key in KEYS:
        await storage.put_bytes(key, b"x")

    assert await storage.delete_prefix("ws/a/") == 2
    assert [o.key for o in await listed(storage)] == ["other/5.txt", "ws/ab/3.txt", "ws/b/4.txt"]
    assert await storage.delete_prefix("ws/") == 2
    assert await storage.delete_prefix("ws/") == 0
    assert [o.key for o in await listed(storage)] == ["other/5.txt"]
    with pytest.raises(InvalidObjectKey, match="empty prefix"):
        await storage.delete_prefix("")

    await storage.delete("other/5.txt")
    assert leftovers() == []


# -- keys that must never reach the backend ------------------------------------

BAD_KEYS = [
    "",
    "../escaped",
    "ws/../../escaped",
    "ws/1/../../../escaped",
    "..",
    ".",
    "./ws",
    "/etc/passwd",
    "//etc/passwd",
    "ws\\..\\..\\escaped",
    "ws//1",
    "ws/1/",
    "ws/./1",
    "ws/\x00/1",
    "ws/1\x00.txt",
    "ws/1\n.txt",
    ".meta/ws/1",
    "ws/.hidden",
    "ws/1/" + "x" * 1020,
    "ws/" + "y" * 256,
    "ws/\udc80",
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
async def test_unsafe_keys_are_refused_everywhere(
    storage: ObjectStorage, leftovers: Leftovers, storage_settings: Settings, key: str
) -> None:
    operations: list[Callable[[], Any]] = [
        lambda: storage.put_bytes(key, b"pwned"),
        lambda: storage.put_stream(key, chunked(b"pwned", 2)),
        lambda: storage.get_bytes(key),
        lambda: storage.stat(key),
        lambda: storage.delete(key),
        lambda: storage.presigned_url(key),
    ]
    for operation in operations:
        with pytest.raises(InvalidObjectKey):
            await operation()
    with pytest.raises(InvalidObjectKey):
        async with storage.open_read(key):
            pass
    with pytest.raises(InvalidObjectKey):
        storage.local_path(key)

    assert leftovers() == []
    # Nothing appeared beside (or above) the storage folder either.
    assert {p.name for p in storage_settings.data_dir.iterdir()} <= {"objects"}


@pytest.mark.parametrize(
    "prefix", ["../", "ws/../../", "/etc", "ws\\", "ws//", "ws/\x00", ".meta/", "ws/."]
)
async def test_unsafe_prefixes_are_refused(storage: ObjectStorage, prefix: str) -> None:
    with pytest.raises(InvalidObjectKey):
        await listed(storage, prefix)
    with pytest.raises(InvalidObjectKey):
        await storage.delete_prefix(prefix)


# -- presigned URLs and local paths --------------------------------------------


async def test_presigned_url(storage: ObjectStorage) -> None:
    await storage.put_bytes("ws/1/exports/contacts.csv", b"email\nada@example.com\n")
    url = await storage.presigned_url(
        "ws/1/exports/contacts.csv", 300, download_name="contacts été.csv"
    )
    with pytest.raises(ValueError, match="expires_seconds"):
        await storage.presigned_url("ws/1/exports/contacts.csv", 8 * 24 * 3600)

    if isinstance(storage, LocalObjectStorage):
        assert url is None
        return
    assert url is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        assert response.status_code == 200
        assert response.content == b"email\nada@example.com\n"
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers.get("content-disposition", "")
        # The signature covers the key: a URL for another object is refused.
        forged = url.replace("contacts.csv", "other.csv", 1)
        assert (await client.get(forged)).status_code == 403


async def test_local_path(storage: ObjectStorage, storage_settings: Settings) -> None:
    await storage.put_bytes("ws/1/imports/contacts.csv", b"email\n")
    path = storage.local_path("ws/1/imports/contacts.csv")
    if isinstance(storage, S3ObjectStorage):
        assert path is None
        return
    assert path == storage_settings.data_dir / "objects" / "ws" / "1" / "imports" / "contacts.csv"
    assert path.read_bytes() == b"email\n"


# -- backend specifics ---------------------------------------------------------


def test_local_backend_defaults_to_the_data_dir(tmp_path: Path) -> None:
    store = storage_from_settings(make_settings(tmp_path))
    assert isinstance(store, LocalObjectStorage)
    assert store.root == tmp_path / "objects"
    elsewhere = storage_from_settings(make_settings(tmp_path, local_path=tmp_path / "blobs"))
    assert isinstance(elsewhere, LocalObjectStorage)
    assert elsewhere.root == tmp_path / "blobs"


def test_s3_backend_needs_a_bucket(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="S3_BUCKET"):
        make_settings(tmp_path, backend="s3")


async def test_local_key_that_is_also_a_folder_is_refused(tmp_path: Path) -> None:
    store = LocalObjectStorage(tmp_path)
    await store.put_bytes("ws/1", b"file")
    with pytest.raises(InvalidObjectKey, match="clashes"):
        await store.put_bytes("ws/1/logo.png", b"png")
    await store.put_bytes("ws/2/logo.png", b"png")
    with pytest.raises(InvalidObjectKey, match="clashes"):
        await store.put_bytes("ws/2", b"file")
    assert [o.key for o in await listed(store)] == ["ws/1", "ws/2/logo.png"]
    assert not [p for p in tmp_path.rglob(".tmp-*")]


async def test_local_stale_sidecar_is_ignored(tmp_path: Path) -> None:
    store = LocalObjectStorage(tmp_path)
    stored = await store.put_bytes("ws/1/a.txt", b"one", content_type="text/x-one")
    # As if the process died between renaming the object and its sidecar.
    (tmp_path / "ws" / "1" / "a.txt").write_bytes(b"three")
    info = await store.stat("ws/1/a.txt")
    assert info is not None
    assert info.etag != stored.etag
    assert info.content_type == "text/plain"


async def test_s3_keys_live_under_the_configured_prefix(s3_server: S3Server) -> None:
    def store(prefix: str) -> S3ObjectStorage:
        return S3ObjectStorage(
            bucket=BUCKET,
            endpoint_url=s3_server.endpoint_url,
            region=REGION,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
            prefix=prefix,
        )

    tag = uuid.uuid4().hex[:8]
    mine, theirs = store(f"/deploy-{tag}-a/"), store(f"deploy-{tag}-b")
    try:
        await mine.put_bytes("ws/1/a.txt", b"a")
        await theirs.put_bytes("ws/1/a.txt", b"b")
        raw = s3_server.client.list_objects_v2(Bucket=BUCKET, Prefix=f"deploy-{tag}")
        assert [k["Key"] for k in raw["Contents"]] == [
            f"deploy-{tag}-a/ws/1/a.txt",
            f"deploy-{tag}-b/ws/1/a.txt",
        ]
        assert [o.key for o in await listed(mine)] == ["ws/1/a.txt"]
        assert await mine.delete_prefix("ws/") == 1
        assert await theirs.get_bytes("ws/1/a.txt") == b"b"
    finally:
        await mine.aclose()
        await theirs.aclose()


async def test_s3_delete_prefix_aborts_unfinished_uploads(
    tmp_path: Path, s3_server: S3Server
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    settings = make_settings(
        tmp_path,
        backend="s3",
        s3_bucket=BUCKET,
        s3_endpoint_url=s3_server.endpoint_url,
        s3_region=REGION,
        s3_access_key_id=ACCESS_KEY_ID,
        s3_secret_access_key=SECRET_ACCESS_KEY,
        s3_prefix=prefix,
    )
    store = storage_from_settings(settings)
    client = s3_server.client
    client.create_multipart_upload(Bucket=BUCKET, Key=f"{prefix}/ws/1/half-uploaded.csv")
    try:
        assert await store.delete_prefix("ws/1/") == 0
        uploads = client.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{prefix}/")
        assert uploads.get("Uploads", []) == []
    finally:
        await store.aclose()
