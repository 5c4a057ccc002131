"""Object key and prefix rules: no key can name a path outside the storage root."""

from __future__ import annotations

from maily.kit.storage.interface import InvalidObjectKey

__all__ = ["MAX_KEY_BYTES", "MAX_SEGMENT_BYTES", "validate_key", "validate_prefix"]

# S3's limit on a whole key, and NAME_MAX of common file systems for one segment,
# so a key valid on one backend is valid on the other.
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255


def _problem(text: str, *, is_prefix: bool) -> str | None:
    if not text:
        return None if is_prefix else "is empty"
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if size > MAX_KEY_BYTES:
        return f"is longer than {MAX_KEY_BYTES} bytes"
    # Control characters (NUL above all) truncate or confuse paths, logs and headers.
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        return "contains a control character"
    if "\\" in text:
        return "contains a backslash"
    if text.startswith("/"):
        return "is absolute (starts with '/')"
    segments = text.split("/")
    # A prefix may end at a folder boundary ("workspaces/1/"): its last segment is empty.
    checked = segments[:-1] if is_prefix and segments[-1] == "" else segments
    for segment in checked:
        if segment == "":
            return "has an empty path segment ('//' or a trailing '/')"
        if segment in (".", ".."):
            return "has a '.' or '..' segment"
        # Dot-names are reserved for the local backend's temporary and metadata files.
        if segment.startswith("."):
            return "has a segment starting with '.'"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"has a segment longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:80] + "...")


def validate_key(key: str) -> str:
    """Return `key` if it is a safe object key, else raise `InvalidObjectKey`.

    A key is `/`-separated, relative, has no empty, `.`, `..` or dot-led segments, no
    backslash and no control character, and fits S3's and file systems' lengths.
    """
    if not isinstance(key, str):
        raise InvalidObjectKey(f"object key must be a string, not {type(key).__name__}")
    problem = _problem(key, is_prefix=False)
    if problem:
        raise InvalidObjectKey(f"invalid object key {_shown(key)}: {problem}")
    return key


def validate_prefix(prefix: str) -> str:
    """Like `validate_key`, but empty is allowed and a trailing `/` is allowed."""
    if not isinstance(prefix, str):
        raise InvalidObjectKey(f"key prefix must be a string, not {type(prefix).__name__}")
    problem = _problem(prefix, is_prefix=True)
    if problem:
        raise InvalidObjectKey(f"invalid key prefix {_shown(prefix)}: {problem}")
    return prefix
