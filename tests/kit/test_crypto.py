"""SecretBox, EncryptedText and rotate_all, the last against the real local PostgreSQL."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, select, type_coerce
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateSchema, DropSchema

from maily.config import Settings
from maily.kit.crypto import (
    EncryptedText,
    SecretBox,
    SecretBoxNotConfiguredError,
    SecretDecryptError,
    SecretKeyError,
    configure_secret_box,
    encrypted_columns,
    generate_key,
    get_secret_box,
    rotate_all,
)
from maily.kit.db.engine import async_url

# Fixed keys, so parametrized test ids are the same in every pytest-xdist worker.
OLD_KEY = base64.urlsafe_b64encode(b"old-key:" + b"\x01" * 24).decode()
NEW_KEY = base64.urlsafe_b64encode(b"new-key:" + b"\x02" * 24).decode()


@pytest.fixture
def secret_box() -> Iterator[None]:
    """Restore whatever process-wide box was installed before the test."""
    previous = configure_secret_box(None)
    yield
    configure_secret_box(previous)


# --- SecretBox ---------------------------------------------------------------


def test_round_trip() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt("smtp-pässword ✉")

    assert token != "smtp-pässword ✉"
    assert box.decrypt(token) == "smtp-pässword ✉"
    assert box.decrypt(box.encrypt("")) == ""


def test_encryption_is_randomised() -> None:
    box = SecretBox([generate_key()])
    assert box.encrypt("same") != box.encrypt("same")


def test_generate_key_makes_a_fernet_key() -> None:
    key = generate_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert generate_key() != key


def test_from_settings_encrypts_with_the_first_key_and_decrypts_with_all() -> None:
    old_token = SecretBox([OLD_KEY]).encrypt("api-key")
    settings = Settings(security={"encryption_keys": [SecretStr(NEW_KEY), SecretStr(OLD_KEY)]})
    box = SecretBox.from_settings(settings)

    assert box.decrypt(old_token) == "api-key"
    assert SecretBox([NEW_KEY]).decrypt(box.encrypt("fresh")) == "fresh"


def test_default_development_key_is_usable() -> None:
    box = SecretBox.from_settings(Settings())
    assert box.decrypt(box.encrypt("dev")) == "dev"


def test_rotation() -> None:
    old_token = SecretBox([OLD_KEY]).encrypt("dkim-private-key")
    box = SecretBox([NEW_KEY, OLD_KEY])

    assert box.decrypt(old_token) == "dkim-private-key"
    assert box.needs_rotation(old_token)

    rotated = box.rotate(old_token)
    assert not box.needs_rotation(rotated)
    assert box.rotated(rotated) is None
    assert SecretBox([NEW_KEY]).decrypt(rotated) == "dkim-private-key"
    with pytest.raises(SecretDecryptError):
        SecretBox([OLD_KEY]).decrypt(rotated)


def test_token_under_the_primary_key_needs_no_rotation() -> None:
    box = SecretBox([NEW_KEY, OLD_KEY])
    assert not box.needs_rotation(box.encrypt("x"))
    assert not SecretBox([NEW_KEY]).needs_rotation(box.encrypt("x"))


@pytest.mark.parametrize(
    "keys",
    [
        ["not-a-key"],
        [NEW_KEY, "c2hvcnQ="],  # valid base64, only 5 bytes
        [NEW_KEY, OLD_KEY, "é" * 44],
    ],
)
def test_malformed_key_is_named_in_the_error(keys: list[str]) -> None:
    with pytest.raises(SecretKeyError) as caught:
        SecretBox(keys)
    message = str(caught.value)
    assert "MAILY_SECURITY__ENCRYPTION_KEYS" in message
    assert f"entry #{len(keys)}" in message
    assert "generate_key" in message
    # The bad key is still a secret: it must not end up in logs.
    assert keys[-1] not in message


def test_malformed_key_from_settings() -> None:
    settings = Settings(security={"encryption_keys": [SecretStr("oops")]})
    with pytest.raises(SecretKeyError, match="MAILY_SECURITY__ENCRYPTION_KEYS entry #1"):
        SecretBox.from_settings(settings)


def test_no_keys_is_refused() -> None:
    with pytest.raises(SecretKeyError, match="MAILY_SECURITY__ENCRYPTION_KEYS is empty"):
        SecretBox([])


def test_tampered_ciphertext_is_refused() -> None:
    box = SecretBox([NEW_KEY])
    raw = bytearray(base64.urlsafe_b64decode(box.encrypt("secret")))
    raw[-40] ^= 0x01  # a ciphertext byte, covered by the HMAC
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode()

    with pytest.raises(SecretDecryptError, match="MAILY_SECURITY__ENCRYPTION_KEYS"):
        box.decrypt(tampered)
    with pytest.raises(SecretDecryptError):
        box.rotate(tampered)


@pytest.mark.parametrize(
    "token",
    ["", "not a token", "ünïcode", Fernet(OLD_KEY).encrypt(b"x").decode()],
    ids=["empty", "garbage", "non-ascii", "other-key"],
)
def test_token_no_key_opens_is_refused(token: str) -> None:
    box = SecretBox([NEW_KEY])
    with pytest.raises(SecretDecryptError):
        box.decrypt(token)
    with pytest.raises(SecretDecryptError):
        box.needs_rotation(token)
    with pytest.raises(SecretDecryptError):
        SecretBox([NEW_KEY, generate_key()]).needs_rotation(token)


# --- EncryptedText and the column registry -----------------------------------


def test_encrypted_text_needs_a_configured_box(secret_box: None) -> None:
    column_type = EncryptedText()
    dialect = PGDialect()

    with pytest.raises(SecretBoxNotConfiguredError, match="configure_secret_box"):
        column_type.process_bind_param("password", dialect)
    with pytest.raises(SecretBoxNotConfiguredError):
        get_secret_box()
    # NULL needs no key.
    assert column_type.process_bind_param(None, dialect) is None


def test_encrypted_text_encrypts_on_write_and_decrypts_on_read(secret_box: None) -> None:
    box = SecretBox([NEW_KEY])
    configure_secret_box(box)
    column_type = EncryptedText()
    dialect = PGDialect()

    stored = column_type.process_bind_param("password", dialect)
    assert isinstance(stored, str)
    assert stored != "password"
    assert box.decrypt(stored) == "password"
    assert column_type.process_result_value(stored, dialect) == "password"
    assert column_type.process_result_value(None, dialect) is None


def test_core_columns_are_registered() -> None:
    metadata = MetaData()
    table = Table(
        "registry_core",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("password", EncryptedText()),
        Column("host", Text),
    )

    registered = encrypted_columns()
    assert table.c.password in registered
    assert table.c.host not in registered


def test_declarative_columns_are_registered() -> None:
    class Base(DeclarativeBase):
        pass

    class SMTPSettings(Base):
        __tablename__ = "registry_declarative"
        id: Mapped[int] = mapped_column(primary_key=True)
        password: Mapped[str] = mapped_column(EncryptedText())
        username: Mapped[str]

    table = SMTPSettings.__table__
    assert isinstance(table, Table)
    assert table.c.password in encrypted_columns()
    assert table.c.username not in encrypted_columns()


# --- rotate_all against PostgreSQL -------------------------------------------


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(database_url), poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest.fixture
async def secrets_table(engine: AsyncEngine) -> AsyncIterator[Table]:
    """A throwaway table in a schema of its own, dropped afterwards.

    Its primary key has two columns, so rotate_all's keyset paging is exercised
    the way tenant tables (workspace_id, id) will use it."""
    schema = f"test_crypto_{secrets.token_hex(6)}"
    metadata = MetaData(schema=schema)
    table = Table(
        "provider_credentials",
        metadata,
        Column("workspace_id", Integer, primary_key=True),
        Column("id", Integer, primary_key=True),
        Column("api_key", EncryptedText(), nullable=True),
    )
    async with engine.begin() as conn:
        await conn.execute(CreateSchema(schema))
        await conn.run_sync(metadata.create_all)
    try:
        yield table
    finally:
        async with engine.begin() as conn:
            await conn.execute(DropSchema(schema, cascade=True))


async def _raw_tokens(session: AsyncSession, table: Table) -> dict[tuple[int, int], str | None]:
    raw = type_coerce(table.c.api_key, Text())
    rows = await session.execute(select(table.c.workspace_id, table.c.id, raw))
    return {(row[0], row[1]): row[2] for row in rows}


async def test_rotate_all_re_encrypts_old_values_under_the_new_key(
    engine: AsyncEngine, secrets_table: Table, secret_box: None
) -> None:
    table = secrets_table
    assert table.c.api_key in encrypted_columns()
    old_ids = [(w, i) for w in (1, 2) for i in range(4)]  # 8 rows under the old key
    new_ids = [(3, i) for i in range(3)]  # 3 rows already under the new key
    null_ids = [(4, 0), (4, 1)]

    configure_secret_box(SecretBox([OLD_KEY]))
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            insert(table),
            [{"workspace_id": w, "id": i, "api_key": f"old-{w}-{i}"} for w, i in old_ids],
        )
        await session.execute(
            insert(table), [{"workspace_id": w, "id": i, "api_key": None} for w, i in null_ids]
        )

    configure_secret_box(SecretBox([NEW_KEY, OLD_KEY]))
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            insert(table),
            [{"workspace_id": w, "id": i, "api_key": f"new-{w}-{i}"} for w, i in new_ids],
        )
    async with AsyncSession(engine) as session:
        before = await _raw_tokens(session, table)

    # A batch size that does not divide the row count, so paging crosses
    # workspace boundaries and ends on a short batch.
    async with AsyncSession(engine) as session, session.begin():
        rewritten = await rotate_all(session, columns=[table.c.api_key], batch_size=3)
    assert rewritten == len(old_ids)

    new_only = SecretBox([NEW_KEY])
    async with AsyncSession(engine) as session:
        after = await _raw_tokens(session, table)
    for pk in old_ids:
        assert after[pk] != before[pk]
        assert new_only.decrypt(after[pk] or "") == "old-{}-{}".format(*pk)
    for pk in new_ids:
        assert after[pk] == before[pk], "values already under the new key are left alone"
    for pk in null_ids:
        assert after[pk] is None

    # Once every value is rotated the old key can go: the app reads with the new key only.
    configure_secret_box(new_only)
    async with AsyncSession(engine) as session:
        rows = await session.execute(select(table.c.workspace_id, table.c.id, table.c.api_key))
        plaintexts = {(w, i): value for w, i, value in rows}
    assert plaintexts == {
        **{pk: "old-{}-{}".format(*pk) for pk in old_ids},
        **{pk: "new-{}-{}".format(*pk) for pk in new_ids},
        **dict.fromkeys(null_ids),
    }

    async with AsyncSession(engine) as session, session.begin():
        assert await rotate_all(session, columns=[table.c.api_key], box=new_only) == 0


async def test_rotate_all_refuses_a_value_no_key_opens(
    engine: AsyncEngine, secrets_table: Table, secret_box: None
) -> None:
    table = secrets_table
    configure_secret_box(SecretBox([NEW_KEY, OLD_KEY]))
    stranger = SecretBox([generate_key()]).encrypt("lost")
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(insert(table).values(workspace_id=1, id=1, api_key="fine"))
        await session.execute(
            insert(table).values(workspace_id=1, id=2, api_key=type_coerce(stranger, Text()))
        )

    async with AsyncSession(engine) as session, session.begin():
        with pytest.raises(SecretDecryptError):
            await rotate_all(session, columns=[table.c.api_key])


async def test_rotate_all_without_a_configured_box_is_refused(
    engine: AsyncEngine, secrets_table: Table, secret_box: None
) -> None:
    async with AsyncSession(engine) as session:
        with pytest.raises(SecretBoxNotConfiguredError):
            await rotate_all(session, columns=[secrets_table.c.api_key])
