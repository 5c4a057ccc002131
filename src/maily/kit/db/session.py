"""One unit of work = one transaction; jobs it enqueued go out only after commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession as _AsyncSession
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.kit.queue.buffer import JobBuffer


class AsyncSession(_AsyncSession):
    """A session that carries the jobs enqueued during its unit of work."""

    @property
    def jobs(self) -> JobBuffer:
        buffer = self.info.get("jobs")
        if buffer is None:
            buffer = self.info["jobs"] = JobBuffer()
        return buffer


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Run one request or job: commit on success, roll back on error, then send
    the buffered jobs — so a worker never sees a row that was never committed."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            session.jobs.clear()
            raise
        await session.jobs.flush()
