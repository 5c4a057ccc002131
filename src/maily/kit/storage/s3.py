"""Object storage on any S3-compatible server, through boto3 on a small thread pool."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import logging
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from maily.kit.storage.interface import (
    CHUNK_SIZE,
    DEFAULT_MAX_UPLOAD_BYTES,
    InvalidObjectKey,
    ObjectNotFound,
    ObjectTooLarge,
    StorageError,
    StoredObject,
    resolve_content_type,
    validate_expiry,
)
from maily.kit.storage.keys import MAX_KEY_BYTES, validate_key, validate_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

__all__ = ["DEFAULT_PART_SIZE", "S3ObjectStorage", "S3RequestFailed"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# A stream longer than one part becomes a multipart upload of parts this big. S3
# wants parts of 5 MiB at least (all but the last) and at most 10,000 of them,
# so 8 MiB parts carry objects up to ~78 GiB while holding 8 MiB per upload.
DEFAULT_PART_SIZE = 8 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024
# DeleteObjects takes at most this many keys per request.
_DELETE_BATCH = 1000


class S3RequestFailed(StorageError):
    """An S3 call failed after boto3's retries; carries the S3 error code and HTTP status."""

    def __init__(self, operation: str, code: str | None, http_status: int | None) -> None:
        status = f" (HTTP {http_status})" if http_status else ""
        super().__init__(f"S3 {operation} failed: {code or 'unknown error'}{status}")
        self.operation = operation
        self.code = code
        self.http_status = http_status

    @property
    def is_missing(self) -> bool:
        return self.http_status == 404 or self.code in ("NoSuchKey", "NotFound", "404")


def _content_disposition(filename: str) -> str:
    # RFC 6266: an ASCII fallback for old clients, the exact name as RFC 5987 UTF-8.
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _take(buffer: bytearray, size: int) -> bytes:
    """Cut the first `size` bytes off `buffer` with one copy (slicing a bytearray, then
    converting to bytes, would make two)."""
    with memoryview(buffer) as view:
        part = view[:size].tobytes()
    del buffer[:size]
    return part


_SESSION_LOCK = threading.Lock()


@functools.cache
def _shared_session() -> boto3.session.Session:
    # A session parses botocore's large service model once; a fresh session per
    # client would parse it again (~80 ms) for each. Clients carry their own
    # credentials, so sharing the session shares nothing secret.
    return boto3.session.Session()


class S3ObjectStorage:
    """Objects in one bucket, under an optional key prefix.

    boto3 is synchronous, so calls run on a pool of this adapter's own (not the
    loop's default executor, which DNS lookups and `to_thread` users share); the
    pool is as large as botocore's connection pool, so no call waits for a socket.
    """

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        part_size: int = DEFAULT_PART_SIZE,
        max_workers: int = 16,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        prefix = prefix.strip("/")
        self.prefix = validate_prefix(prefix + "/") if prefix else ""
        self.bucket = bucket
        self.max_upload_bytes = max_upload_bytes
        self.part_size = part_size
        config = Config(
            signature_version="s3v4",
            # Self-hosted servers (MinIO, SeaweedFS, moto) rarely resolve bucket subdomains.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"mode": "standard", "max_attempts": 4},
            max_pool_connections=max_workers,
            connect_timeout=10,
            read_timeout=60,
            # Newer botocore adds CRC trailers by default that several S3-compatible
            # servers reject; send checksums only where the API requires them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # boto3 sessions may not create clients from two threads at once.
        with _SESSION_LOCK:
            self._client: S3Client = _shared_session().client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                config=config,
            )
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="maily-s3")

    async def _run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one blocking boto3 call on the pool, keeping the caller's context (trace ids)."""
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args, **kwargs)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise S3RequestFailed(exc.operation_name, error.get("Code"), status) from exc
        except BotoCoreError as exc:
            # No answer from S3 (connection refused, timeout): name what went wrong.
            raise S3RequestFailed(
                getattr(fn, "__name__", "call"), type(exc).__name__, None
            ) from exc

    def _full_key(self, key: str) -> str:
        full = self.prefix + validate_key(key)
        if len(full.encode("utf-8")) > MAX_KEY_BYTES:
            raise InvalidObjectKey(f"object key {key!r} is too long with the configured prefix")
        return full

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None

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
        full_key = self._full_key(key)
        content_type = resolve_content_type(key, content_type)
        digest = hashlib.sha256()
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []

        async def send_part(data: bytes) -> None:
            assert upload_id is not None
            number = len(parts) + 1
            response = await self._run(
                self._client.upload_part,
                Bucket=self.bucket,
                Key=full_key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
            )
            parts.append({"ETag": response["ETag"], "PartNumber": number})

        try:
            async for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise ObjectTooLarge(limit, key)
                digest.update(chunk)
                buffer += chunk
                # Strictly more than a part: an object of exactly one part stays a
                # plain PUT, and the last part is never empty.
                while len(buffer) > self.part_size:
                    if upload_id is None:
                        created = await self._run(
                            self._client.create_multipart_upload,
                            Bucket=self.bucket,
                            Key=full_key,
                            ContentType=content_type,
                        )
                        upload_id = created["UploadId"]
                    await send_part(_take(buffer, self.part_size))
            if upload_id is None:
                response = await self._run(
                    self._client.put_object,
                    Bucket=self.bucket,
                    Key=full_key,
                    Body=bytes(buffer),
                    ContentType=content_type,
                )
                etag = response["ETag"]
            else:
                await send_part(bytes(buffer))
                buffer.clear()
                completed = await self._run(
                    self._client.complete_multipart_upload,
                    Bucket=self.bucket,
                    Key=full_key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
                etag = completed.get("ETag", "")
        except BaseException:
            if upload_id is not None:
                await self._abort(full_key, upload_id)
            raise
        return StoredObject(
            key=key,
            size=size,
            etag=etag.strip('"') or None,
            content_type=content_type,
            sha256=digest.hexdigest(),
        )

    async def _abort(self, full_key: str, upload_id: str) -> None:
        # Uploaded parts are billed and invisible until aborted. A failed abort must
        # not hide the error that caused it; a bucket lifecycle rule
        # (AbortIncompleteMultipartUpload) sweeps up what is left.
        try:
            await self._run(
                self._client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=full_key,
                UploadId=upload_id,
            )
        except Exception:
            logger.warning("could not abort multipart upload %s of %s", upload_id, full_key)

    # -- reading -------------------------------------------------------------

    @asynccontextmanager
    async def open_read(
        self, key: str, *, chunk_size: int = CHUNK_SIZE
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        full_key = self._full_key(key)
        try:
            response = await self._run(self._client.get_object, Bucket=self.bucket, Key=full_key)
        except S3RequestFailed as exc:
            if exc.is_missing:
                raise ObjectNotFound(key) from None
            raise
        body = response["Body"]
        try:
            yield self._chunks(body.read, chunk_size)
        finally:
            # Closing an unfinished body drops its connection instead of draining it.
            body.close()

    async def _chunks(self, read: Callable[[int], bytes], chunk_size: int) -> AsyncIterator[bytes]:
        while chunk := await self._run(read, chunk_size):
            yield chunk

    async def get_bytes(self, key: str) -> bytes:
        full_key = self._full_key(key)

        def fetch() -> bytes:
            return self._client.get_object(Bucket=self.bucket, Key=full_key)["Body"].read()

        try:
            return await self._run(fetch)
        except S3RequestFailed as exc:
            if exc.is_missing:
                raise ObjectNotFound(key) from None
            raise

    async def stat(self, key: str) -> StoredObject | None:
        full_key = self._full_key(key)
        try:
            head = await self._run(self._client.head_object, Bucket=self.bucket, Key=full_key)
        except S3RequestFailed as exc:
            if exc.is_missing:
                return None
            raise
        return StoredObject(
            key=key,
            size=head["ContentLength"],
            etag=head.get("ETag", "").strip('"') or None,
            content_type=head.get("ContentType"),
            last_modified=head.get("LastModified"),
        )

    # -- listing and deleting ------------------------------------------------

    async def _pages(self, operation: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        pages = iter(self._client.get_paginator(operation).paginate(**params))  # type: ignore[call-overload]
        # Each page is one request: fetch them one at a time on the pool.
        while (page := await self._run(next, pages, None)) is not None:
            yield page

    async def list(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        full_prefix = self.prefix + validate_prefix(prefix)
        async for page in self._pages("list_objects_v2", Bucket=self.bucket, Prefix=full_prefix):
            for item in page.get("Contents", []):
                yield StoredObject(
                    key=item["Key"][len(self.prefix) :],
                    size=item["Size"],
                    etag=item.get("ETag", "").strip('"') or None,
                    last_modified=item.get("LastModified"),
                )

    async def delete(self, key: str) -> None:
        full_key = self._full_key(key)
        # S3 answers 204 for a missing key too, so this is idempotent as it stands.
        await self._run(self._client.delete_object, Bucket=self.bucket, Key=full_key)

    async def delete_prefix(self, prefix: str) -> int:
        if not validate_prefix(prefix):
            raise InvalidObjectKey("refusing to delete with an empty prefix (that is everything)")
        full_prefix = self.prefix + prefix
        deleted = 0
        async for page in self._pages("list_objects_v2", Bucket=self.bucket, Prefix=full_prefix):
            keys = [item["Key"] for item in page.get("Contents", [])]
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                response = await self._run(
                    self._client.delete_objects,
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
                if errors := response.get("Errors"):
                    first = errors[0]
                    raise StorageError(
                        f"S3 refused to delete {len(errors)} object(s), "
                        f"first {first.get('Key')!r}: {first.get('Code')}"
                    )
                deleted += len(batch)
        # Unfinished multipart uploads hold data too; erasing a workspace must reach them.
        async for page in self._pages(
            "list_multipart_uploads", Bucket=self.bucket, Prefix=full_prefix
        ):
            for upload in page.get("Uploads", []):
                await self._abort(upload["Key"], upload["UploadId"])
        return deleted

    async def presigned_url(
        self, key: str, expires_seconds: int = 3600, *, download_name: str | None = None
    ) -> str | None:
        full_key = self._full_key(key)
        validate_expiry(expires_seconds)
        params: dict[str, str] = {"Bucket": self.bucket, "Key": full_key}
        if download_name:
            params["ResponseContentDisposition"] = _content_disposition(download_name)
        # Signing is local, but finding credentials the first time may ask the
        # instance metadata service, so it runs off the loop too.
        return await self._run(
            self._client.generate_presigned_url,
            "get_object",
            Params=params,
            ExpiresIn=expires_seconds,
        )

    async def aclose(self) -> None:
        await self._run(self._client.close)
        self._executor.shutdown(wait=False)
