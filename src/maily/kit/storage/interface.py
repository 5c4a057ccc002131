"""What the rest of Maily sees of object storage: the protocol, stored-object facts, errors."""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from maily.kit.errors import MailyError

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "MAX_PRESIGN_SECONDS",
    "InvalidObjectKey",
    "ObjectNotFound",
    "ObjectStorage",
    "ObjectTooLarge",
    "StorageError",
    "StoredObject",
    "resolve_content_type",
    "validate_expiry",
]

# Reads are handed out in chunks of this size: big enough to keep thread hops
# rare, small enough that many concurrent downloads stay cheap.
CHUNK_SIZE = 256 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024
# SigV4 presigned URLs cannot live longer than seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class StoredObject:
    """Facts about one stored object.

    A field is None when the call that produced it cannot know it on *every*
    backend, so code written against the local backend behaves the same on S3:
    `list()` carries no `content_type`, put results carry no `last_modified`,
    and `sha256` (computed while streaming) is only on put results.
    """

    key: str
    size: int
    # Opaque tag that changes when the content does (S3 ETag; local: the SHA-256).
    etag: str | None = None
    content_type: str | None = None
    last_modified: datetime | None = None
    sha256: str | None = None


class StorageError(Exception):
    """Base of every object storage failure; backend exceptions never leak past the adapter."""


class InvalidObjectKey(StorageError, ValueError):
    """A key or prefix that could escape the storage root or that some backend can't hold."""


class ObjectNotFound(StorageError, LookupError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no stored object with key {key!r}")
        self.key = key


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class ObjectTooLarge(MailyError, StorageError):
    """An upload went past its size limit; nothing of it was kept.

    A `MailyError` so an endpoint that streams a request body into storage answers
    413 without a handler of its own. The message names the limit, never the key.
    """

    status_code = 413
    code = "payload_too_large"

    def __init__(self, limit: int, key: str) -> None:
        super().__init__(f"upload exceeds the size limit of {_human_bytes(limit)} ({limit} bytes)")
        self.limit = limit
        self.key = key


def validate_expiry(expires_seconds: int) -> int:
    """Refuse lifetimes S3 can't sign, on every backend, so local development catches them."""
    if not 1 <= expires_seconds <= MAX_PRESIGN_SECONDS:
        raise ValueError(
            f"expires_seconds must be between 1 and {MAX_PRESIGN_SECONDS}, not {expires_seconds}"
        )
    return expires_seconds


def resolve_content_type(key: str, content_type: str | None) -> str:
    """The caller's type, else one guessed from the key's extension: same on every backend."""
    if content_type:
        return content_type
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or "application/octet-stream"


class ObjectStorage(Protocol):
    """An object store keyed by `/`-separated keys (see `keys.validate_key`).

    Every method validates its key first and raises `InvalidObjectKey` before any I/O.
    """

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> StoredObject:
        """Store `chunks` under `key`, replacing any object there, holding at most one
        part in memory. Past `max_bytes` (default: the configured `max_upload_bytes`)
        raise `ObjectTooLarge` and keep nothing; an exception from `chunks` also keeps
        nothing. Readers see the old object or the whole new one, never a partial one."""
        ...

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> StoredObject:
        """Store `data` (already in memory, so no upload limit applies)."""
        ...

    def open_read(
        self, key: str, *, chunk_size: int = CHUNK_SIZE
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """`async with storage.open_read(key) as chunks: async for chunk in chunks: ...`

        Raises `ObjectNotFound` on entry. Leaving the block early releases the file or
        connection at once, which a bare async generator would leave to the GC."""
        ...

    async def get_bytes(self, key: str) -> bytes:
        """The whole object; raises `ObjectNotFound`. For small objects only."""
        ...

    async def stat(self, key: str) -> StoredObject | None:
        """Size, content type, etag and modification time; None when there is no object."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix` (e.g. `workspaces/<id>/`,
        for erasing a workspace) and return how many. An empty prefix is refused."""
        ...

    def list(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        """Objects whose key starts with `prefix` (a plain string prefix, as on S3), in
        key order."""
        ...

    async def presigned_url(
        self, key: str, expires_seconds: int = 3600, *, download_name: str | None = None
    ) -> str | None:
        """A URL anyone can GET the object from until it expires, or None where the
        backend has no such thing (local: serve the file through the API instead).
        `download_name` makes browsers save it under that file name."""
        ...

    def local_path(self, key: str) -> Path | None:
        """Where the local backend keeps `key` (it may not exist), so a COPY-based importer
        can read the file directly; None on remote backends."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads; call once at shutdown."""
        ...
