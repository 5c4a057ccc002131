"""All SQL for contact imports: the import records, the staging table, and the set-based
merge into contacts, memberships and consent records.

The merge path is hand-written SQL (named and explained below): it moves a whole file
in a few statements, and every statement names the workspace."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Text, TextClause, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.exc import IntegrityError

from maily.contacts.imports.parsing import STAGE_COLUMNS, StageRecord
from maily.kit.db import AsyncSession
from maily.kit.logging import get_logger
from maily.kit.pagination import PageParams, paginate
from maily.models import ContactImport

__all__ = ["ImportRepository", "MergeCounts", "StagingRepository"]

_log = get_logger("maily.contacts.imports")

# Statuses in which an import has not finished: it can still be started or cancelled.
OPEN_STATUSES = ("uploaded", "queued")


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, contact_import: ContactImport) -> ContactImport:
        self.session.add(contact_import)
        await self.session.flush()
        await self.session.refresh(contact_import)  # server defaults: status, counters, times
        return contact_import

    async def get(self, workspace_id: uuid.UUID, import_id: uuid.UUID) -> ContactImport | None:
        # Always read the row: the job changes it in transactions of its own, and a copy
        # left in the session by an earlier step may be stale or expired.
        return await self.session.get(
            ContactImport, (workspace_id, import_id), populate_existing=True
        )

    async def reload(self, contact_import: ContactImport) -> None:
        await self.session.refresh(contact_import)

    async def list(self, workspace_id: uuid.UUID, page: PageParams) -> list[ContactImport]:
        """Newest first: ids are UUIDv7, so `id < cursor` walks back in time."""
        query = select(ContactImport).where(ContactImport.workspace_id == workspace_id)
        query = paginate(query, ContactImport.id, page, newest_first=True)
        return list((await self.session.execute(query)).scalars())

    async def transition(
        self,
        workspace_id: uuid.UUID,
        import_id: uuid.UUID,
        *,
        from_statuses: Sequence[str],
        values: dict[str, Any],
    ) -> bool:
        """Change the import only while it is in one of `from_statuses`; whether it was.

        A compare-and-set rather than a lock held for the job's whole run, so a cancel
        request never waits on a running import, and a job that finishes after a
        cancel finds the import cancelled and keeps nothing."""
        result = await self.session.execute(
            update(ContactImport)
            .where(
                ContactImport.workspace_id == workspace_id,
                ContactImport.id == import_id,
                ContactImport.status.in_(from_statuses),
            )
            .values(**values)
            .returning(ContactImport.id)
            # Loaded copies of the row (the caller's, or a request's) see the change.
            .execution_options(synchronize_session="fetch")
        )
        return result.first() is not None

    async def try_lock_run(self, import_id: uuid.UUID) -> bool:
        """Take the import's run lock for this transaction, if no other run holds it
        (a retry racing a slow first run)."""
        result = await self.session.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"contact-import:{import_id}"},
        )
        return bool(result.scalar_one())


# -- the staging table and the merge -------------------------------------------------------

STAGE_TABLE = "import_stage"

# Temporary: never WAL-logged, private to the job's connection, gone at commit.
# `subscribe` is false for suppressed addresses; `existed` is filled in only when
# a skip_existing import needs to know which contacts were there before it.
_CREATE_STAGE = text(
    """
    CREATE TEMPORARY TABLE import_stage (
        row_no integer NOT NULL,
        email text NOT NULL,
        first_name text,
        last_name text,
        timezone text,
        locale text,
        tags text[],
        fields jsonb,
        subscribe boolean NOT NULL,
        id uuid NOT NULL,
        existed boolean NOT NULL DEFAULT false
    ) ON COMMIT DROP
    """
)

# Which of these addresses are suppressed, by address or by domain: two index probes
# per address on the (workspace_id, kind, value_hash) key.
_SUPPRESSED_AMONG = text(
    """
    SELECT e.email, x.reason
    FROM unnest(:emails) AS e(email)
    JOIN suppressions AS x
      ON x.workspace_id = :workspace_id AND x.kind = 'address'
     AND x.value_hash = maily_sha256_text(e.email)
    UNION ALL
    SELECT e.email, x.reason
    FROM unnest(:emails) AS e(email)
    JOIN suppressions AS x
      ON x.workspace_id = :workspace_id AND x.kind = 'domain'
     AND x.value_hash = maily_sha256_text(split_part(e.email, '@', 2))
    """
).bindparams(bindparam("emails", type_=ARRAY(Text)))

_MARK_EXISTING = text(
    """
    UPDATE import_stage AS s SET existed = true
    FROM contacts AS c
    WHERE c.workspace_id = :workspace_id AND c.email = s.email
    """
)

# New contacts from every staged row. Rows go in email order (byte order, which is the
# order of the email indexes under C-like collations and close to it otherwise), so
# the unique and prefix indexes fill left to right instead of at random.
_INSERT_CONTACTS = """
    INSERT INTO contacts AS c
        (workspace_id, id, email, first_name, last_name, timezone, locale, fields, tags, source)
    SELECT CAST(:workspace_id AS uuid), s.id, s.email,
           coalesce(s.first_name, ''), coalesce(s.last_name, ''), s.timezone, s.locale,
           coalesce(s.fields, '{}'::jsonb), coalesce(s.tags, '{}'), 'import'
    FROM import_stage AS s
    {where}
    ORDER BY s.email COLLATE "C"
"""

_CONFLICT = {
    # Existing contacts stay exactly as they are.
    "skip_existing": "ON CONFLICT (workspace_id, email) DO NOTHING",
    # Existing contacts keep their details; only the import's own tags are added.
    "add_only_tags": """
        ON CONFLICT (workspace_id, email) DO UPDATE
        SET tags = c.tags || ARRAY(
                SELECT t FROM unnest(CAST(:import_tags AS varchar[])) AS t
                WHERE t <> ALL (c.tags)),
            updated_at = now()
        WHERE NOT c.tags @> CAST(:import_tags AS varchar[])
    """,
    "add_only": "ON CONFLICT (workspace_id, email) DO NOTHING",
    # The file's non-empty cells win; empty cells never erase what is stored. The
    # WHERE leaves rows the file would not change unwritten (a re-import is cheap).
    "update_existing": """
        ON CONFLICT (workspace_id, email) DO UPDATE
        SET first_name = CASE WHEN excluded.first_name <> '' THEN excluded.first_name
                              ELSE c.first_name END,
            last_name = CASE WHEN excluded.last_name <> '' THEN excluded.last_name
                             ELSE c.last_name END,
            timezone = coalesce(excluded.timezone, c.timezone),
            locale = coalesce(excluded.locale, c.locale),
            fields = c.fields || excluded.fields,
            tags = c.tags || ARRAY(
                SELECT t FROM unnest(excluded.tags) AS t WHERE t <> ALL (c.tags)),
            updated_at = now()
        WHERE (excluded.first_name <> '' AND excluded.first_name <> c.first_name)
           OR (excluded.last_name <> '' AND excluded.last_name <> c.last_name)
           OR (excluded.timezone IS NOT NULL AND excluded.timezone IS DISTINCT FROM c.timezone)
           OR (excluded.locale IS NOT NULL AND excluded.locale IS DISTINCT FROM c.locale)
           OR NOT c.fields @> excluded.fields
           OR NOT c.tags @> excluded.tags
    """,
}


def _count_merged(conflict: str) -> TextClause:
    """The merge, counting what it did. A row inserted by the statement has no xmax;
    a row it updated carries the lock it took on the conflict; rows it left alone
    are not returned at all."""
    # Only this module's constant SQL is put together here; values are bound.
    return text(
        f"WITH merged AS ({_INSERT_CONTACTS.replace('{where}', '')} {conflict} "  # noqa: S608
        "RETURNING (c.xmax = 0) AS created) "
        "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) "
        "FROM merged"
    )


_MERGE = {name: _count_merged(sql) for name, sql in _CONFLICT.items()}

# The modes that leave existing contacts alone, without ON CONFLICT: the addresses the
# workspace lacks are found by an anti-join and inserted plainly, which spares every
# row the speculative insertion ON CONFLICT costs (a million-row merge: 14.0 s with
# it, 12.4 s without). An address someone else adds after the statement's snapshot
# fails it on the unique index; `merge` then runs the ON CONFLICT form instead.
_INSERT_NEW = text(
    "WITH merged AS ("  # noqa: S608 - this module's constant SQL; values are bound
    + _INSERT_CONTACTS.replace(
        "{where}",
        "WHERE NOT EXISTS (SELECT 1 FROM contacts AS o"
        " WHERE o.workspace_id = :workspace_id AND o.email = s.email)",
    )
    + " RETURNING 1) SELECT count(*), 0 FROM merged"
)
_LEAVES_EXISTING = frozenset({"skip_existing", "add_only"})
_UNIQUE_VIOLATION = "23505"

# Subscribe the staged contacts to the import's lists, by the rules of
# `maily.contacts.subscriptions` for the 'import' source: at once even on double
# opt-in lists (the workspace asserts consent it holds), but never a suppressed
# address, never a contact who unsubscribed from everything, never over a member's
# own unsubscribe from the list. A pending double opt-in is settled (its open
# confirmation links dropped). Every change gets a consent record.
_SUBSCRIBE = """
    WITH targets AS (
        SELECT c.id
        FROM import_stage AS s
        JOIN contacts AS c ON c.workspace_id = :workspace_id AND c.email = s.email
        WHERE s.subscribe AND c.status <> 'unsubscribed' {only_new}
    ), changed AS (
        INSERT INTO list_memberships AS m (workspace_id, list_id, contact_id, status)
        SELECT CAST(:workspace_id AS uuid), l.id, t.id, 'subscribed'
        FROM targets AS t CROSS JOIN unnest(CAST(:list_ids AS uuid[])) AS l(id)
        ON CONFLICT (workspace_id, list_id, contact_id) DO UPDATE
            SET status = 'subscribed', updated_at = now()
            WHERE m.status = 'unconfirmed'
        RETURNING m.list_id, m.contact_id
    ), settled AS (
        DELETE FROM subscription_confirmations AS sc
        USING changed AS ch
        WHERE sc.workspace_id = :workspace_id AND sc.list_id = ch.list_id
          AND sc.contact_id = ch.contact_id AND sc.used_at IS NULL
    )
    INSERT INTO consent_records (workspace_id, id, contact_id, list_id, action, source)
    SELECT CAST(:workspace_id AS uuid), maily_uuid7(), ch.contact_id, ch.list_id,
           'subscribe', 'import'
    FROM changed AS ch
"""
_SUBSCRIBE_ALL, _SUBSCRIBE_NEW = (
    text(_SUBSCRIBE.replace("{only_new}", only_new)).bindparams(
        bindparam("list_ids", type_=ARRAY(UUID(as_uuid=True)))
    )
    for only_new in ("", "AND NOT s.existed")
)


class MergeCounts:
    def __init__(self, created: int, updated: int) -> None:
        self.created = created
        self.updated = updated


class StagingRepository:
    """The job's SQL: stage rows by COPY, then merge them in a few set-based statements.

    COPY goes through the job session's own asyncpg connection, so the staged rows
    live in the job's transaction: a failure or a cancel rolls everything back."""

    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id

    async def _driver(self) -> Any:
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        return raw.driver_connection

    async def create_stage(self) -> None:
        await self.session.execute(_CREATE_STAGE)

    async def drop_stage(self) -> None:
        await self.session.execute(text("DROP TABLE IF EXISTS import_stage"))

    async def copy(self, records: list[StageRecord]) -> None:
        if not records:
            return
        driver = await self._driver()
        await driver.copy_records_to_table(STAGE_TABLE, records=records, columns=STAGE_COLUMNS)

    async def has_suppressions(self) -> bool:
        result = await self.session.execute(
            text("SELECT EXISTS (SELECT 1 FROM suppressions WHERE workspace_id = :workspace_id)"),
            {"workspace_id": self.workspace_id},
        )
        return bool(result.scalar_one())

    async def suppressed_among(self, emails: list[str]) -> dict[str, str]:
        """The suppressed ones of `emails`, each with the suppression's reason."""
        result = await self.session.execute(
            _SUPPRESSED_AMONG, {"emails": emails, "workspace_id": self.workspace_id}
        )
        return {email: reason for email, reason in result}

    async def analyze_stage(self) -> None:
        # Temporary tables are never analysed automatically; the joins below need
        # to know the staging table holds a million rows, not a thousand.
        await self.session.execute(text("ANALYZE import_stage"))

    async def mark_existing(self) -> None:
        await self.session.execute(_MARK_EXISTING, {"workspace_id": self.workspace_id})

    async def merge(self, mode: str, import_tags: Sequence[str]) -> MergeCounts:
        """Insert new contacts and apply `mode` to existing ones, in one statement."""
        conflict = "add_only_tags" if mode == "add_only" and import_tags else mode
        statement = _MERGE[conflict]
        params: dict[str, Any] = {"workspace_id": self.workspace_id}
        if conflict == "add_only_tags":
            params["import_tags"] = list(import_tags)
        # The sort feeding the insert fits in memory instead of spilling to disk.
        await self.session.execute(text("SET LOCAL work_mem = '256MB'"))
        row = None
        if conflict in _LEAVES_EXISTING:
            try:
                async with self.session.begin_nested():
                    row = (await self.session.execute(_INSERT_NEW, params)).one()
            except IntegrityError as exc:
                if getattr(exc.orig, "sqlstate", None) != _UNIQUE_VIOLATION:
                    raise
                _log.info("import merge met a concurrent insert; merging with ON CONFLICT")
        if row is None:
            row = (await self.session.execute(statement, params)).one()
        await self.session.execute(text("RESET work_mem"))
        return MergeCounts(created=int(row[0]), updated=int(row[1]))

    async def subscribe(self, list_ids: Sequence[uuid.UUID], *, only_new: bool) -> int:
        """Subscriptions made (one consent record each)."""
        statement = _SUBSCRIBE_NEW if only_new else _SUBSCRIBE_ALL
        result = await self.session.execute(
            statement, {"workspace_id": self.workspace_id, "list_ids": list(list_ids)}
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
