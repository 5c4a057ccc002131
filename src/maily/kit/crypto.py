"""Secrets at rest: Fernet encryption with key rotation, and a column type that uses it."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr
from sqlalchemy import Column, Table, Text, bindparam, event, select, tuple_, type_coerce, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from maily.config import Settings

__all__ = [
    "ENCRYPTION_KEYS_SETTING",
    "EncryptedText",
    "SecretBox",
    "SecretBoxNotConfiguredError",
    "SecretDecryptError",
    "SecretKeyError",
    "configure_secret_box",
    "encrypted_columns",
    "generate_key",
    "get_secret_box",
    "rotate_all",
]

ENCRYPTION_KEYS_SETTING = "MAILY_SECURITY__ENCRYPTION_KEYS"


class SecretKeyError(ValueError):
    """An encryption key in the settings is missing or malformed."""


class SecretDecryptError(Exception):
    """A stored secret could not be decrypted with any configured key."""


class SecretBoxNotConfiguredError(RuntimeError):
    """An encrypted column was read or written before `configure_secret_box()`."""


def generate_key() -> str:
    """A new random key, ready to put first in `MAILY_SECURITY__ENCRYPTION_KEYS`."""
    return Fernet.generate_key().decode("ascii")


def _fernet(key: str | SecretStr, position: int) -> Fernet:
    raw = key.get_secret_value() if isinstance(key, SecretStr) else key
    try:
        return Fernet(raw.strip())
    except (ValueError, TypeError) as exc:
        # Never echo the key itself: a malformed key is still someone's secret.
        raise SecretKeyError(
            f"{ENCRYPTION_KEYS_SETTING} entry #{position + 1} is not a valid Fernet key: "
            "it must be 32 random bytes in url-safe base64 (44 characters). "
            "Generate one with `python -c 'from maily.kit.crypto import generate_key; "
            "print(generate_key())'`."
        ) from exc


class SecretBox:
    """Encrypts with the first key, decrypts with any of them.

    Fernet tokens do not say which key made them, so "needs rotation" means
    "the primary key cannot open it but another key can".
    """

    def __init__(self, keys: Sequence[str | SecretStr]) -> None:
        if not keys:
            raise SecretKeyError(
                f"{ENCRYPTION_KEYS_SETTING} is empty: at least one key is needed "
                "to encrypt secrets at rest."
            )
        fernets = [_fernet(key, position) for position, key in enumerate(keys)]
        self._primary = fernets[0]
        self._all = MultiFernet(fernets)
        self._key_count = len(fernets)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(settings.security.encryption_keys)

    def encrypt(self, plaintext: str) -> str:
        return self._primary.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        return self._open(self._all, token).decode("utf-8")

    def needs_rotation(self, token: str) -> bool:
        """True when the token opens only with an older key.

        Raises `SecretDecryptError` when no key opens it: such a value cannot be
        rotated, and the operator must know before retiring any key.
        """
        try:
            self._primary.decrypt(_token_bytes(token))
        except InvalidToken:
            pass
        else:
            return False
        if self._key_count == 1:
            raise SecretDecryptError(_DECRYPT_MESSAGE)
        self._open(self._all, token)
        return True

    def rotate(self, token: str) -> str:
        """The same secret encrypted under the primary key."""
        try:
            return self._all.rotate(_token_bytes(token)).decode("ascii")
        except InvalidToken:
            raise SecretDecryptError(_DECRYPT_MESSAGE) from None

    def rotated(self, token: str) -> str | None:
        """`rotate(token)` if it needs rotation, else None: one decryption in the common case."""
        return self.rotate(token) if self.needs_rotation(token) else None

    @staticmethod
    def _open(fernet: Fernet | MultiFernet, token: str) -> bytes:
        try:
            plaintext = fernet.decrypt(_token_bytes(token))
        except InvalidToken:
            raise SecretDecryptError(_DECRYPT_MESSAGE) from None
        return plaintext


_DECRYPT_MESSAGE = (
    f"cannot decrypt a stored secret: no key in {ENCRYPTION_KEYS_SETTING} opens it, "
    "or the stored value was altered. If keys were rotated, keep the old key in the "
    "list (after the new one) until `maily rotate-secrets` has run."
)


def _token_bytes(token: str) -> bytes:
    try:
        return token.encode("ascii")
    except UnicodeEncodeError:
        # Fernet tokens are ASCII; anything else is not a token at all.
        raise SecretDecryptError(_DECRYPT_MESSAGE) from None


# The process-wide box used by `EncryptedText`. Column types are built at import
# time, long before settings are read, so they cannot take the box as an argument.
_box: SecretBox | None = None


def configure_secret_box(box: SecretBox | None) -> SecretBox | None:
    """Install the box `EncryptedText` uses (None removes it); returns the previous one."""
    global _box
    previous, _box = _box, box
    return previous


def get_secret_box() -> SecretBox:
    if _box is None:
        raise SecretBoxNotConfiguredError(
            "an EncryptedText column was used before the secret box was configured: call "
            "configure_secret_box(SecretBox.from_settings(settings)) when the process starts."
        )
    return _box


class EncryptedText(TypeDecorator[str]):
    """Text stored as a Fernet token, read back as plaintext.

    Ciphertext is randomised, so these columns cannot be compared or indexed
    meaningfully in SQL; look rows up by another column.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return get_secret_box().encrypt(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return get_secret_box().decrypt(value)


# Every column declared with EncryptedText, so `rotate_all` needs no hand-kept list.
# Weak references: a table that is thrown away (tests, Alembic's temporary tables)
# must not keep being rotated.
_registry: weakref.WeakSet[Column[Any]] = weakref.WeakSet()


@event.listens_for(Column, "after_parent_attach")
def _register_encrypted_column(column: Column[Any], parent: Any) -> None:
    if isinstance(column.type, EncryptedText) and isinstance(parent, Table):
        _registry.add(column)


def encrypted_columns() -> list[Column[Any]]:
    """Every live column declared with `EncryptedText`, in a stable order."""
    columns = [column for column in list(_registry) if isinstance(column.table, Table)]
    return sorted(columns, key=lambda column: (column.table.fullname, column.name))


async def rotate_all(
    session: AsyncSession,
    *,
    columns: Iterable[Column[Any]] | None = None,
    box: SecretBox | None = None,
    batch_size: int = 500,
) -> int:
    """Re-encrypt under the primary key every stored secret that is not already.

    Walks each encrypted column (all registered ones by default) in primary-key
    order, `batch_size` rows at a time, and returns how many values it rewrote.
    Runs in the caller's transaction and does not commit. Raises
    `SecretDecryptError` when a value opens with no key, before any key is retired.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    box = box if box is not None else get_secret_box()
    rewritten = 0
    seen: set[tuple[str, str]] = set()
    for column in encrypted_columns() if columns is None else list(columns):
        table = column.table
        if not isinstance(table, Table):
            raise TypeError(f"column {column!r} is not attached to a table")
        # The same physical column may be registered twice (a table copied into
        # another MetaData); walking it twice would only waste a scan.
        identity = (table.fullname, column.name)
        if identity in seen:
            continue
        seen.add(identity)
        rewritten += await _rotate_column(session, table, column, box, batch_size)
    return rewritten


async def _rotate_column(
    session: AsyncSession, table: Table, column: Column[Any], box: SecretBox, batch_size: int
) -> int:
    pk = list(table.primary_key.columns)
    if not pk:
        raise TypeError(
            f"cannot rotate {table.fullname}.{column.name}: the table has no primary key"
        )
    # type_coerce to Text reads and writes the stored token itself, bypassing
    # EncryptedText's decrypt-on-read and encrypt-on-write.
    raw = type_coerce(column, Text()).label("token")
    rewrite = (
        update(table)
        .where(*(key == bindparam(f"_rotate_pk_{i}", type_=key.type) for i, key in enumerate(pk)))
        .values({column.name: bindparam("_rotate_token", type_=Text())})
    )
    rewritten = 0
    last: tuple[Any, ...] | None = None
    while True:
        query = select(*pk, raw).where(column.is_not(None)).order_by(*pk).limit(batch_size)
        if last is not None:
            query = query.where(_after(pk, last))
        # Lock the batch until the caller commits, so a secret saved meanwhile by
        # the application is not overwritten with the rotated old value.
        query = query.with_for_update(key_share=True)
        rows = (await session.execute(query)).all()
        if not rows:
            return rewritten
        changes: list[dict[str, Any]] = []
        for row in rows:
            token = box.rotated(row[-1])
            if token is not None:
                change = {f"_rotate_pk_{i}": value for i, value in enumerate(row[:-1])}
                change["_rotate_token"] = token
                changes.append(change)
        if changes:
            await session.execute(rewrite, changes)
            rewritten += len(changes)
        last = tuple(rows[-1][:-1])
        if len(rows) < batch_size:
            return rewritten


def _after(pk: list[Column[Any]], last: tuple[Any, ...]) -> ColumnElement[bool]:
    """Keyset pagination: rows whose primary key sorts after `last`."""
    values = [bindparam(None, value, type_=key.type) for key, value in zip(pk, last, strict=True)]
    if len(pk) == 1:
        return pk[0] > values[0]
    return tuple_(*pk) > tuple_(*values)
