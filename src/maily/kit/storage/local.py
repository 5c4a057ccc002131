"""Object storage in a local folder: atomic writes, metadata in sidecar files."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import IO, Any

from maily.kit.storage.interface import (
    CHUNK_SIZE,
    DEFAULT_MAX_UPLOAD_BYTES,
    InvalidObjectKey,
    ObjectNotFound,
    ObjectTooLarge,
    StoredObject,
    resolve_content_type,
    validate_expiry,
)
from maily.kit.storage.keys import validate_key, validate_prefix

__all__ = ["LocalObjectStorage"]

# Sidecars mirror the object tree under this folder. Keys can't have dot-led
# segments, so no key reaches it, and a walk of the tree skips it (and temp files).
_META_DIR = ".meta"
_STAT_BATCH = 256


class _Upload:
    """A temporary file being filled, next to where the object will live."""

    def __init__(self, path: Path, file: IO[bytes]) -> None:
        self.path = path
        self.file = file
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        # Hashing here too keeps the CPU work off the event loop.
        self.digest.update(chunk)
        self.file.write(chunk)

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


def _temp_name() -> str:
    return f".tmp-{secrets.token_hex(8)}"


def _create_temp(folder: Path) -> tuple[Path, IO[bytes]]:
    """Open a new temp file in `folder`, making the folder as needed."""
    for attempt in range(3):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / _temp_name()
        try:
            return path, path.open("xb")
        except FileNotFoundError:
            # A concurrent delete pruned the folder it had just seen empty: make it again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _prune_empty_folders(folder: Path, root: Path) -> None:
    """Remove `folder` and its parents up to (not including) `root` while they are empty,
    so erasing a workspace leaves no trace of its key names."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


class LocalObjectStorage:
    """Objects as files under `root/<key>`; content type and SHA-256 in `root/.meta/<key>`.

    A write goes to a temp file in the target folder, is fsynced, then renamed over
    the target, so readers see the old object or the new one, never a torn one. The
    sidecar is replaced right after; its recorded size tells a stale one apart.
    """

    def __init__(self, root: Path, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        self.root = Path(os.path.abspath(root))
        self.max_upload_bytes = max_upload_bytes

    # -- paths ---------------------------------------------------------------

    def _path(self, key: str) -> Path:
        path = self.root / validate_key(key)
        # validate_key already makes escaping impossible; this guards against a
        # future loosening of the rules turning into a traversal bug.
        if self.root not in path.parents:
            raise InvalidObjectKey(f"object key {key!r} leaves the storage folder")
        return path

    def _meta_path(self, key: str) -> Path:
        return self.root / _META_DIR / key

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    # -- writing -------------------------------------------------------------

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> StoredObject:
        limit = self.max_upload_bytes if max_bytes is None else max_bytes
        return await self._put(key, chunks, content_type, limit)

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> StoredObject:
        async def one_chunk() -> AsyncIterator[bytes]:
            yield data

        return await self._put(key, one_chunk(), content_type, None)

    async def _put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        content_type: str | None,
        limit: int | None,
    ) -> StoredObject:
        path = self._path(key)
        content_type = resolve_content_type(key, content_type)
        temp_path, file = await asyncio.to_thread(self._create_temp, key, path.parent)
        upload = _Upload(temp_path, file)
        try:
            async for chunk in chunks:
                upload.size += len(chunk)
                if limit is not None and upload.size > limit:
                    raise ObjectTooLarge(limit, key)
                await asyncio.to_thread(upload.write, chunk)
            sha256 = upload.digest.hexdigest()
            meta = {"content_type": content_type, "sha256": sha256, "size": upload.size}
            await asyncio.to_thread(self._commit, key, upload, path, meta)
        except BaseException:
            await asyncio.to_thread(self._discard, upload, path.parent)
            raise
        return StoredObject(
            key=key, size=upload.size, etag=sha256, content_type=content_type, sha256=sha256
        )

    def _create_temp(self, key: str, folder: Path) -> tuple[Path, IO[bytes]]:
        try:
            return _create_temp(folder)
        except (FileExistsError, NotADirectoryError) as exc:
            raise self._clash(key) from exc

    def _discard(self, upload: _Upload, folder: Path) -> None:
        upload.discard()
        _prune_empty_folders(folder, self.root)

    @staticmethod
    def _clash(key: str) -> InvalidObjectKey:
        return InvalidObjectKey(
            f"object key {key!r} clashes with another key on the local backend "
            "(a key can't also be the folder of other keys)"
        )

    def _commit(self, key: str, upload: _Upload, path: Path, meta: dict[str, Any]) -> None:
        upload.file.flush()
        os.fsync(upload.file.fileno())
        upload.file.close()
        try:
            os.replace(upload.path, path)
        except IsADirectoryError as exc:
            raise self._clash(key) from exc
        meta_path = self._meta_path(key)
        meta_temp, meta_file = _create_temp(meta_path.parent)
        try:
            with meta_file:
                meta_file.write(json.dumps(meta).encode())
            os.replace(meta_temp, meta_path)
        except BaseException:
            meta_temp.unlink(missing_ok=True)
            raise

    # -- reading -------------------------------------------------------------

    @asynccontextmanager
    async def open_read(
        self, key: str, *, chunk_size: int = CHUNK_SIZE
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        path = self._path(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        try:
            yield self._chunks(file, chunk_size)
        finally:
            await asyncio.to_thread(file.close)

    @staticmethod
    async def _chunks(file: IO[bytes], chunk_size: int) -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(file.read, chunk_size):
            yield chunk

    async def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    async def stat(self, key: str) -> StoredObject | None:
        path = self._path(key)
        return await asyncio.to_thread(self._stat, key, path, with_content_type=True)

    def _stat(self, key: str, path: Path, *, with_content_type: bool) -> StoredObject | None:
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not S_ISREG(info.st_mode):
            return None
        meta = self._read_meta(key, info.st_size)
        content_type = meta.get("content_type") or resolve_content_type(key, None)
        return StoredObject(
            key=key,
            size=info.st_size,
            etag=meta.get("sha256") or f"{info.st_mtime_ns:x}-{info.st_size:x}",
            content_type=content_type if with_content_type else None,
            last_modified=datetime.fromtimestamp(info.st_mtime, UTC),
        )

    def _read_meta(self, key: str, size: int) -> dict[str, Any]:
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
        except (OSError, ValueError):
            return {}
        # A crash between the object's rename and the sidecar's leaves an old sidecar.
        if not isinstance(meta, dict) or meta.get("size") != size:
            return {}
        return meta

    # -- listing and deleting ------------------------------------------------

    def _keys_under(self, prefix: str) -> list[str]:
        folder, _, _ = prefix.rpartition("/")
        base = self.root / folder if folder else self.root
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            relative = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            here = "" if relative == "." else relative + "/"
            # Descend only into folders that can hold matching keys; skip dot-folders.
            dirnames[:] = [
                name
                for name in dirnames
                if not name.startswith(".")
                and ((here + name + "/").startswith(prefix) or prefix.startswith(here + name + "/"))
            ]
            keys.extend(
                here + name
                for name in filenames
                if not name.startswith(".") and (here + name).startswith(prefix)
            )
        # UTF-8 preserves code point order, so this is S3's (byte-wise) key order.
        keys.sort()
        return keys

    def _stat_many(self, keys: Iterable[str]) -> list[StoredObject]:
        found = (self._stat(key, self.root / key, with_content_type=False) for key in keys)
        return [item for item in found if item is not None]

    async def list(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        prefix = validate_prefix(prefix)
        keys = await asyncio.to_thread(self._keys_under, prefix)
        for start in range(0, len(keys), _STAT_BATCH):
            batch = keys[start : start + _STAT_BATCH]
            for item in await asyncio.to_thread(self._stat_many, batch):
                yield item

    def _delete(self, key: str, path: Path) -> bool:
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return False
        finally:
            meta_path = self._meta_path(key)
            if meta_path.is_file():
                meta_path.unlink(missing_ok=True)
                _prune_empty_folders(meta_path.parent, self.root)
        _prune_empty_folders(path.parent, self.root)
        return True

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(self._delete, key, path)

    async def delete_prefix(self, prefix: str) -> int:
        if not validate_prefix(prefix):
            raise InvalidObjectKey("refusing to delete with an empty prefix (that is everything)")

        def delete_all() -> int:
            return sum(self._delete(key, self.root / key) for key in self._keys_under(prefix))

        return await asyncio.to_thread(delete_all)

    async def presigned_url(
        self, key: str, expires_seconds: int = 3600, *, download_name: str | None = None
    ) -> str | None:
        validate_key(key)
        validate_expiry(expires_seconds)
        return None

    async def aclose(self) -> None:
        return None
