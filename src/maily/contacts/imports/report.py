"""The error report of an import: one CSV line (row, value, reason) per problem found."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterable

from maily.contacts.imports.parsing import Problem
from maily.kit.csvsafe import CSVRowWriter

__all__ = ["HEADER", "ErrorReport", "empty_report"]

HEADER = ("row", "value", "reason")
MAX_VALUE = 500
_CHUNK = 256 * 1024
# Kept in memory up to this size, then in a temporary file: a file of garbage can
# have as many problems as rows.
_SPOOL_BYTES = 8 * 1024 * 1024


def empty_report() -> bytes:
    writer = CSVRowWriter()
    writer.write(HEADER)
    return writer.take()


class ErrorReport:
    """Problems are added batch by batch, in row order, and read back once."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
        self._writer = CSVRowWriter()
        self._writer.write(HEADER)
        self.lines = 0

    def add(self, problems: Iterable[Problem]) -> None:
        write = self._writer.write
        for row, value, reason in problems:
            write((str(row), value[:MAX_VALUE], reason))
            self.lines += 1
        self._file.write(self._writer.take())

    async def chunks(self) -> AsyncIterator[bytes]:
        self._file.seek(0)
        while chunk := self._file.read(_CHUNK):
            yield chunk

    def close(self) -> None:
        self._file.close()
