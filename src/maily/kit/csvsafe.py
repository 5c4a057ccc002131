"""CSV writing that spreadsheets cannot turn into formulas (OWASP CSV injection guidance)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

__all__ = ["FORMULA_PREFIXES", "CSVRowWriter", "escape_cell"]

# A cell starting with one of these is read as a formula (or a DDE call) by Excel,
# LibreOffice and Google Sheets. Tab and carriage return are on the list because
# some spreadsheets strip them and then see the character after.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    """Prefix a single quote when the cell would start a formula.

    Every cell is treated the same, whatever its source: a negative number or an
    international phone number (`-5`, `+44 …`) is escaped too. That costs a quote
    character in those cells and keeps a crafted custom field from ever running."""
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class CSVRowWriter:
    """Turns rows of text into CSV bytes (RFC 4180, UTF-8, CRLF), escaping every cell.

    Every cell is quoted as OWASP recommends, so separators, quotes and line breaks
    inside a value can never shift the columns."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")

    def write(self, cells: Iterable[str]) -> None:
        self._writer.writerow([escape_cell(cell) for cell in cells])

    def take(self) -> bytes:
        """The rows written since the last call, encoded; the buffer starts empty again."""
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8")
