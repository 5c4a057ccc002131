"""What an uploaded file is: encoding, CSV dialect or JSON Lines, its columns and first rows.

The upload streams through `ContentCheck`, which validates the encoding of the whole
file on the way to storage; `inspect` then reads the head it kept. A file that cannot
be imported is refused here, before anything else is recorded."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "HEAD_BYTES",
    "MAX_COLUMNS",
    "MAX_COLUMN_NAME",
    "ContentCheck",
    "FileFacts",
    "UnusableFile",
    "inspect",
    "jsonl_cell",
]

# The beginning of the file that the header, the dialect and the preview come from.
HEAD_BYTES = 64 * 1024
MAX_COLUMNS = 500
MAX_COLUMN_NAME = 200  # contact_imports.columns holds varchar(200)
SAMPLE_ROWS = 5
SAMPLE_CELL = 200
DELIMITERS = (",", ";", "\t", "|")

Format = Literal["csv", "jsonl"]

_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# The five bytes Windows-1252 leaves undefined: a file holding one is plain Latin-1.
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
# Control characters no text export contains (tab, CR and LF are fine).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Signatures of files people pick by mistake, to say what they picked.
_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook (.xlsx); export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (.xls); export the sheet as CSV"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive; unpack it first"),
)


class UnusableFile(ValueError):
    """The file cannot be imported; the message says why, for the person who uploaded it."""


class ContentCheck:
    """Fed every chunk of an upload: keeps the head, and learns which text encoding
    the whole file is in (UTF-8, else Windows-1252, else Latin-1) and whether it
    holds NUL bytes (binary data, or UTF-16)."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.size = 0
        self.has_nul = False
        self._utf8: codecs.IncrementalDecoder | None = codecs.getincrementaldecoder("utf-8")()
        self._cp1252_ok = True

    def feed(self, chunk: bytes) -> None:
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self.size += len(chunk)
        if not self.has_nul and b"\x00" in chunk:
            self.has_nul = True
        if self._utf8 is not None:
            try:
                self._utf8.decode(chunk)
            except UnicodeDecodeError:
                self._utf8 = None
        if self._cp1252_ok and _CP1252_UNDEFINED.search(chunk):
            self._cp1252_ok = False

    def finish(self) -> None:
        if self._utf8 is not None:
            try:
                self._utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                self._utf8 = None

    @property
    def encoding(self) -> str:
        """A Python codec name; 'utf-8-sig' drops the byte order mark while reading."""
        if self._utf8 is not None:
            return "utf-8-sig" if self.head.startswith(_UTF8_BOM) else "utf-8"
        return "cp1252" if self._cp1252_ok else "latin-1"

    @property
    def complete(self) -> bool:
        """Whether the head is the whole file."""
        return self.size <= HEAD_BYTES


@dataclass(frozen=True)
class FileFacts:
    format: Format
    encoding: str
    delimiter: str | None
    columns: list[str]
    # The first data rows as text, cut short, for the person choosing the mapping.
    sample: list[list[str]] = field(default_factory=list)


def inspect(check: ContentCheck) -> FileFacts:
    """The facts an import needs about a fully received file, or UnusableFile."""
    head = bytes(check.head)
    if check.size == 0 or not head.strip():
        raise UnusableFile("the file is empty")
    if head.startswith(_UTF16_BOMS):
        raise UnusableFile("the file is UTF-16 encoded; save it as UTF-8 (or Latin-1) CSV")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise UnusableFile(f"the file is {what}, not CSV or JSON Lines")
    if check.has_nul:
        raise UnusableFile("the file contains binary data (NUL bytes); upload CSV or JSON Lines")

    encoding = check.encoding
    # Not final: the head may end inside a multi-byte character.
    text = codecs.getincrementaldecoder(encoding)().decode(head, final=check.complete)
    controls = len(_CONTROL.findall(text))
    if controls > max(4, len(text) // 100):
        raise UnusableFile("the file contains binary data; upload CSV or JSON Lines")

    stripped = text.lstrip()
    if stripped.startswith("["):
        raise UnusableFile(
            "the file is a JSON array; JSON Lines has one object per line, with no brackets"
        )
    if stripped.startswith("{"):
        return _inspect_jsonl(text, encoding, complete=check.complete)
    return _inspect_csv(text, encoding, complete=check.complete)


# -- CSV --------------------------------------------------------------------------------


def _records(text: str, delimiter: str, *, complete: bool, limit: int = 50) -> list[list[str]]:
    """Up to `limit` non-blank records of `text`; the last one is dropped when the
    head was cut, since it may be cut too."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[list[str]] = []
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                records.append(record)
            if len(records) > limit:
                break
    except csv.Error:
        # A cut-off head may end inside a quoted field; what was read is still good.
        if complete:
            raise
    if not complete and len(records) > 1:
        records.pop()
    return records[:limit]


def sniff_delimiter(text: str, *, complete: bool) -> str:
    """The delimiter that splits the first records into the same number of columns,
    more than one, preferring the one giving most columns; ',' for a single column."""
    best: tuple[float, int, str] | None = None
    for delimiter in DELIMITERS:
        try:
            records = _records(text, delimiter, complete=complete)
        except csv.Error:
            continue
        if not records:
            continue
        width = len(records[0])
        if width < 2:
            continue
        consistent = sum(len(r) == width for r in records) / len(records)
        if consistent < 0.8:
            continue
        score = (consistent, width, delimiter)
        if best is None or score[:2] > best[:2]:
            best = score
    return best[2] if best else ","


def _column_names(header: list[str]) -> list[str]:
    """Header cells as unique, non-empty names (a mapping refers to columns by name)."""
    if len(header) > MAX_COLUMNS:
        raise UnusableFile(f"the file has {len(header)} columns; at most {MAX_COLUMNS} are read")
    names: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(header, start=1):
        name = cell.strip()[:MAX_COLUMN_NAME] or f"column {position}"
        unique, n = name, 2
        while unique in seen:
            suffix = f" ({n})"
            unique = name[: MAX_COLUMN_NAME - len(suffix)] + suffix
            n += 1
        seen.add(unique)
        names.append(unique)
    return names


def _sample_cells(cells: list[Any], width: int) -> list[str]:
    row = [str(c)[:SAMPLE_CELL] for c in cells[:width]]
    return row + [""] * (width - len(row))


def _inspect_csv(text: str, encoding: str, *, complete: bool) -> FileFacts:
    delimiter = sniff_delimiter(text, complete=complete)
    try:
        records = _records(text, delimiter, complete=complete)
    except csv.Error as exc:
        raise UnusableFile(f"the file is not valid CSV: {exc}") from exc
    if not records:
        raise UnusableFile("the file is empty")
    columns = _column_names(records[0])
    if len(records) < 2:
        raise UnusableFile("the file has a header row but no contacts below it")
    sample = [_sample_cells(r, len(columns)) for r in records[1 : 1 + SAMPLE_ROWS]]
    return FileFacts("csv", encoding, delimiter, columns, sample)


# -- JSON Lines ---------------------------------------------------------------------------


def jsonl_cell(value: Any) -> str:
    """A JSON value as the text a CSV cell would hold (lists become comma lists).
    NUL, which JSON can smuggle in as \\u0000 and PostgreSQL cannot store, is dropped."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(jsonl_cell(v) for v in value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False).replace("\\u0000", "")


def _inspect_jsonl(text: str, encoding: str, *, complete: bool) -> FileFacts:
    lines = text.splitlines()
    if not complete and len(lines) > 1:
        lines.pop()  # may be cut
    # The first object decides that this is JSON Lines; a bad line further down is
    # one bad row, reported by the import, unless most lines are bad.
    objects: list[dict[str, Any]] = []
    bad = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            if not objects:
                raise UnusableFile(f"line {number} is not valid JSON: {exc}") from exc
            value = None
        if isinstance(value, dict):
            objects.append(value)
        elif not objects:
            raise UnusableFile(f"line {number} is not a JSON object")
        else:
            bad += 1
    if bad > len(objects):
        raise UnusableFile("most lines are not JSON objects; this is not a JSON Lines file")
    if not objects:
        raise UnusableFile("the file is empty")
    keys: dict[str, None] = {}
    for obj in objects:
        for key in obj:
            keys.setdefault(str(key).replace("\x00", ""), None)
    names = list(keys)
    if len(names) > MAX_COLUMNS:
        raise UnusableFile(f"the objects have {len(names)} keys; at most {MAX_COLUMNS} are read")
    too_long = [n for n in names if len(n) > MAX_COLUMN_NAME]
    if too_long:
        raise UnusableFile(
            f"a key is longer than {MAX_COLUMN_NAME} characters: {too_long[0][:40]}…"
        )
    sample = [
        _sample_cells([jsonl_cell(obj.get(n)) for n in names], len(names))
        for obj in objects[:SAMPLE_ROWS]
    ]
    return FileFacts("jsonl", encoding, None, names, sample)
