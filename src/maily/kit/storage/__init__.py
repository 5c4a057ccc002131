"""Object storage adapter: one async interface over a local folder or any S3-compatible server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from maily.kit.storage.interface import (
    CHUNK_SIZE,
    DEFAULT_MAX_UPLOAD_BYTES,
    InvalidObjectKey,
    ObjectNotFound,
    ObjectStorage,
    ObjectTooLarge,
    StorageError,
    StoredObject,
)
from maily.kit.storage.keys import validate_key, validate_prefix
from maily.kit.storage.local import LocalObjectStorage

if TYPE_CHECKING:
    from maily.config import Settings

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "InvalidObjectKey",
    "LocalObjectStorage",
    "ObjectNotFound",
    "ObjectStorage",
    "ObjectTooLarge",
    "StorageError",
    "StoredObject",
    "storage_from_settings",
    "validate_key",
    "validate_prefix",
]


def storage_from_settings(settings: Settings) -> ObjectStorage:
    """The configured backend; call `aclose()` on it at shutdown."""
    config = settings.storage
    if config.backend == "s3":
        # Imported here so processes on the local backend never pay for loading boto3.
        from maily.kit.storage.s3 import S3ObjectStorage

        assert config.s3_bucket  # StorageSettings refuses s3 without a bucket
        secret = config.s3_secret_access_key
        return S3ObjectStorage(
            bucket=config.s3_bucket,
            endpoint_url=config.s3_endpoint_url,
            region=config.s3_region,
            access_key_id=config.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            prefix=config.s3_prefix,
            max_upload_bytes=config.max_upload_bytes,
        )
    return LocalObjectStorage(
        config.local_path or settings.data_dir / "objects",
        max_upload_bytes=config.max_upload_bytes,
    )
