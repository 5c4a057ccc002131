"""The merge's fast form for modes that leave existing contacts alone, and its fallback
when another transaction adds one of the file's addresses while it runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from maily.contacts.imports.parsing import StageRecord
from maily.contacts.imports.repository import StagingRepository
from maily.kit.db import create_sessionmaker
from maily.models import Contact, Workspace

ADDRESSES = [f"m{n}@example.com" for n in range(5)]
RACED = "m2@example.com"
DEADLINE = 20.0


def staged(emails: list[str]) -> list[StageRecord]:
    return [
        (row, email, "Imported", None, None, None, None, None, False, str(uuid.uuid4()))
        for row, email in enumerate(emails, start=2)
    ]


@pytest.fixture
async def workspace(engine: AsyncEngine) -> AsyncIterator[uuid.UUID]:
    """A committed workspace: another connection has to see it to add a contact."""
    workspace_id = uuid.uuid4()
    async with create_sessionmaker(engine)() as session, session.begin():
        session.add(Workspace(id=workspace_id, name="Merge", slug=f"merge-{workspace_id.hex}"))
    yield workspace_id
    async with engine.begin() as conn:
        await conn.execute(delete(Contact).where(Contact.workspace_id == workspace_id))
        await conn.execute(delete(Workspace).where(Workspace.id == workspace_id))


async def backend_pid(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def wait_until_blocked(watcher: AsyncConnection, pid: int) -> None:
    """Until backend `pid` waits for a lock another transaction holds."""
    query = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
    async with asyncio.timeout(DEADLINE):
        while (await watcher.execute(query, {"pid": pid})).scalar_one_or_none() != "Lock":
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("mode", ["add_only", "skip_existing"])
async def test_the_merge_inserts_only_new_addresses_and_leaves_existing_ones(
    engine: AsyncEngine, workspace: uuid.UUID, mode: str
) -> None:
    async with create_sessionmaker(engine)() as session, session.begin():
        session.add(
            Contact(workspace_id=workspace, email=ADDRESSES[0], first_name="Kept", source="api")
        )
    async with create_sessionmaker(engine)() as session, session.begin():
        stage = StagingRepository(session, workspace)
        await stage.create_stage()
        await stage.copy(staged(ADDRESSES))
        await stage.analyze_stage()
        counts = await stage.merge(mode, [])
        await stage.drop_stage()
    assert (counts.created, counts.updated) == (4, 0)
    async with create_sessionmaker(engine)() as session:
        rows = await session.execute(
            select(Contact.email, Contact.first_name, Contact.source)
            .where(Contact.workspace_id == workspace)
            .order_by(Contact.email)
        )
        assert rows.all() == [
            (ADDRESSES[0], "Kept", "api"),
            *[(email, "Imported", "import") for email in ADDRESSES[1:]],
        ]


async def test_an_address_added_during_the_merge_is_skipped_not_an_error(
    engine: AsyncEngine, workspace: uuid.UUID
) -> None:
    async with (
        engine.connect() as importer,
        engine.connect() as other,
        engine.connect() as watcher,
    ):
        # Another transaction adds one of the file's addresses and has not committed
        # when the merge starts: the merge's snapshot does not see it, so its plain
        # insert of that address waits on the unique index, then fails once the other
        # commits. The merge must then skip the address, as ON CONFLICT would have.
        other_transaction = await other.begin()
        await other.execute(
            Contact.__table__.insert().values(
                id=uuid.uuid4(),
                workspace_id=workspace,
                email=RACED,
                first_name="Theirs",
                source="api",
            )
        )
        importer_pid = await backend_pid(importer)
        await importer.commit()  # the pid query began a transaction; the session's own ends it
        sessionmaker = create_sessionmaker(importer)  # type: ignore[arg-type]
        async with sessionmaker() as session, session.begin():
            stage = StagingRepository(session, workspace)
            await stage.create_stage()
            await stage.copy(staged(ADDRESSES))
            await stage.analyze_stage()
            merging = asyncio.create_task(stage.merge("add_only", []))
            await wait_until_blocked(watcher, importer_pid)
            assert not merging.done()
            await other_transaction.commit()
            counts = await merging
            await stage.drop_stage()
    assert (counts.created, counts.updated) == (4, 0)
    async with create_sessionmaker(engine)() as session:
        rows = dict(
            (
                await session.execute(
                    select(Contact.email, Contact.first_name).where(
                        Contact.workspace_id == workspace
                    )
                )
            ).all()
        )
        assert rows == {email: "Imported" for email in ADDRESSES} | {RACED: "Theirs"}
        total = await session.scalar(
            select(func.count()).select_from(Contact).where(Contact.workspace_id == workspace)
        )
        assert total == len(ADDRESSES)
