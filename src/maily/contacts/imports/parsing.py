"""Reading an import file in batches of rows, and checking each row for the staging COPY.

This is the per-row hot path of an import of millions of rows: the csv module parses
in C, each row costs a handful of string operations and one precompiled regex match,
and everything else (merge, memberships) happens set-based in PostgreSQL."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO

from maily.contacts.addresses import ROLE_LOCAL_PARTS, InvalidAddress, normalize_email
from maily.contacts.fields import MAX_TEXT, FieldSpec, FieldType, InvalidFieldValue, coerce
from maily.contacts.imports.mapping import ColumnPlan
from maily.contacts.imports.sniffing import jsonl_cell
from maily.kit.db.base import new_uuid_run
from maily.kit.schemas import TIMEZONES, is_locale

__all__ = [
    "BATCH_ROWS",
    "STAGE_COLUMNS",
    "Batch",
    "FileReader",
    "Problem",
    "RowChecker",
    "StageRecord",
    "Tally",
    "UnreadableRow",
]

# Rows per batch: one COPY, one progress update and one cancel check each. Big enough
# that those stay cheap, small enough that a batch blocks the event loop ~0.1 s.
BATCH_ROWS = 25_000
MAX_NAME = 200
MAX_TAG = 100
MAX_TAGS = 100
_MEMO_LIMIT = 50_000

# (row, value, reason) — one line of the error report.
Problem = tuple[int, str, str]
# One row of the staging table, in STAGE_COLUMNS order.
StageRecord = tuple[
    int,
    str,
    str | None,
    str | None,
    str | None,
    str | None,
    list[str] | None,
    str | None,
    bool,
    str,
]
STAGE_COLUMNS = (
    "row_no",
    "email",
    "first_name",
    "last_name",
    "timezone",
    "locale",
    "tags",
    "fields",
    "subscribe",  # false for a suppressed address, filled in after `RowChecker.check`
    "id",  # the contact's id, should the row create one
)


class UnreadableRow(ValueError):
    """The file breaks down part-way (bad quoting, a decoding error): the import fails."""


@dataclass
class Tally:
    """What the rows read so far came to."""

    rows: int = 0  # data rows, blank ones not counted
    staged: int = 0  # rows passed on to the merge
    invalid: int = 0  # rows left out: a bad address or a repeat of an earlier row
    duplicates: int = 0
    role: int = 0  # role addresses (info@, sales@ …): imported, and flagged
    warnings: int = 0  # values dropped from rows that were imported


@dataclass
class Batch:
    """Consecutive rows of the file. `rows` holds every record, blank ones included,
    so that row numbers can be counted; unparsable ones arrive as `problems` and an
    empty record."""

    first_row: int  # the number of rows[0], as a spreadsheet numbers it
    rows: list[list[str]]
    problems: list[Problem] = field(default_factory=list)
    position: int = 0  # bytes of the file read so far


class FileReader:
    """Yields the rows of a CSV or JSON Lines file in batches.

    Row numbers are what a person finds in a spreadsheet: the CSV header is row 1, so
    the first contact is row 2; in JSON Lines a row is a line."""

    def __init__(
        self,
        path: Path,
        *,
        format: str,
        encoding: str,
        delimiter: str | None,
        columns: Sequence[str],
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.path = path
        self.format = format
        self.encoding = encoding
        self.delimiter = delimiter or ","
        self.columns = list(columns)
        self.batch_rows = batch_rows

    def batches(self) -> Iterator[Batch]:
        # newline="" lets the csv module see line breaks inside quoted fields.
        with self.path.open(encoding=self.encoding, newline="", errors="strict") as file:
            try:
                if self.format == "jsonl":
                    yield from self._jsonl(file)
                else:
                    yield from self._csv(file)
            except UnicodeDecodeError as exc:
                raise UnreadableRow(
                    f"the file is not valid {self.encoding} text near byte {exc.start}"
                ) from exc

    def _csv(self, file: IO[str]) -> Iterator[Batch]:
        reader = csv.reader(file, delimiter=self.delimiter)
        raw = file.buffer  # type: ignore[attr-defined]
        try:
            next(reader, None)  # the header, read at upload
            row = 2
            while True:
                rows: list[list[str]] = []
                append = rows.append
                for record in reader:
                    append(record)
                    if len(rows) == self.batch_rows:
                        break
                if not rows:
                    return
                yield Batch(row, rows, position=raw.tell())
                row += len(rows)
        except csv.Error as exc:
            raise UnreadableRow(
                f"the file stops being valid CSV near line {reader.line_num}: {exc} "
                "(an unclosed quote?)"
            ) from exc

    def _jsonl(self, file: IO[str]) -> Iterator[Batch]:
        raw = file.buffer  # type: ignore[attr-defined]
        columns = self.columns
        loads = json.loads
        row = 1
        while True:
            rows: list[list[str]] = []
            problems: list[Problem] = []
            for line in file:
                number = row + len(rows)
                if not line.strip():
                    rows.append([])
                else:
                    try:
                        value = loads(line)
                    except ValueError:
                        value = None
                    if isinstance(value, dict):
                        rows.append([jsonl_cell(value.get(c)) for c in columns])
                    else:
                        problems.append((number, line.strip()[:200], "not a JSON object"))
                        rows.append([])
                if len(rows) == self.batch_rows:
                    break
            if not rows:
                return
            yield Batch(row, rows, problems, position=raw.tell())
            row += len(rows)


class RowChecker:
    """Turns rows into staging records; what is wrong with a row goes to `problems`.

    A row is left out when its address is invalid or repeats an earlier row's (the
    first one wins). A bad value elsewhere is dropped and the row kept: losing a
    subscriber over a malformed birthday would be worse than losing the birthday."""

    def __init__(self, plan: ColumnPlan, import_tags: Sequence[str]) -> None:
        self.plan = plan
        self.import_tags = list(dict.fromkeys(import_tags))
        self.tally = Tally()
        self._seen: set[str] = set()
        # Custom fields: position, converter, and the key as a JSON object member prefix.
        self._fields = [
            (position, _json_converter(spec), json.dumps(spec.key) + ":")
            for position, spec in plan.fields
        ]

    def check(self, batch: Batch) -> tuple[list[StageRecord], list[Problem]]:
        """Staging records for the batch's good rows, and the batch's problems in row
        order. Counters are kept in locals and added up at the end: this loop runs
        once per row of the file."""
        plan = self.plan
        seen = self._seen
        seen_add = seen.add
        records: list[StageRecord] = []
        append = records.append
        problems = batch.problems
        email_at, first_at, last_at = plan.email, plan.first_name, plan.last_name
        has_extras = plan.timezone is not None or plan.locale is not None or plan.tags is not None
        has_tags = plan.tags is not None or bool(self.import_tags)
        fields = self._fields
        width = plan.width
        role_parts = ROLE_LOCAL_PARTS
        rows = invalid = duplicates = role = 0
        row_no = batch.first_row - 1
        # Contact ids are made here rather than by the merge: a UUIDv7 per row in SQL
        # cost the single-threaded merge more than the counter below costs this loop.
        next_id = new_uuid_run(max(len(batch.rows), 1))
        for cells in batch.rows:
            row_no += 1
            if len(cells) < width:
                if not any(cells):
                    continue  # a blank line
                cells = cells + [""] * (width - len(cells))
            raw = cells[email_at]
            try:
                email = normalize_email(raw)
            except InvalidAddress as exc:
                if not any(c.strip() for c in cells):
                    continue  # a row of empty cells
                rows += 1
                invalid += 1
                problems.append((row_no, raw, f"invalid address: {exc}"))
                continue
            rows += 1
            if email in seen:
                invalid += 1
                duplicates += 1
                problems.append((row_no, raw, "duplicate address: an earlier row has it"))
                continue
            seen_add(email)
            if email.partition("@")[0] in role_parts:
                role += 1
                problems.append((row_no, email, "role address: imported, and flagged"))
            first = cells[first_at].strip() if first_at is not None else None
            last = cells[last_at].strip() if last_at is not None else None
            if first and len(first) > MAX_NAME:
                first = self._cut(row_no, first, "first_name", problems)
            if last and len(last) > MAX_NAME:
                last = self._cut(row_no, last, "last_name", problems)
            timezone = locale = values = None
            tags: list[str] | None = None
            if has_extras:
                timezone, locale = self._zone_and_locale(row_no, cells, problems)
            if has_tags:
                tags = self._tags(row_no, cells, problems)
            if fields:
                members = []
                for position, convert, member in fields:
                    value = cells[position]
                    if not value or value.isspace():
                        continue
                    try:
                        members.append(member + convert(value))
                    except InvalidFieldValue as exc:
                        self._warn(problems, row_no, value, f"custom field {exc.key}: {exc.reason}")
                if members:
                    values = "{" + ",".join(members) + "}"
            append(
                (
                    row_no,
                    email,
                    first,
                    last,
                    timezone,
                    locale,
                    tags,
                    values,
                    True,
                    f"{next_id:032x}",
                )
            )
            next_id += 1
        tally = self.tally
        tally.rows += rows
        tally.invalid += invalid
        tally.duplicates += duplicates
        tally.role += role
        tally.staged += len(records)
        return records, problems

    def _cut(self, row_no: int, value: str, name: str, problems: list[Problem]) -> str:
        self.tally.warnings += 1
        problems.append((row_no, value[:MAX_NAME], f"{name} longer than {MAX_NAME}: cut short"))
        return value[:MAX_NAME]

    def _warn(self, problems: list[Problem], row_no: int, value: str, reason: str) -> None:
        self.tally.warnings += 1
        problems.append((row_no, value, f"{reason} (value ignored, contact imported)"))

    def _zone_and_locale(
        self, row_no: int, cells: list[str], problems: list[Problem]
    ) -> tuple[str | None, str | None]:
        plan = self.plan
        timezone = locale = None
        if plan.timezone is not None:
            timezone = cells[plan.timezone].strip() or None
            if timezone is not None and timezone not in TIMEZONES:
                self._warn(problems, row_no, timezone, "unknown time zone")
                timezone = None
        if plan.locale is not None:
            locale = cells[plan.locale].strip() or None
            if locale is not None and not is_locale(locale):
                self._warn(problems, row_no, locale, "not a locale like en or pt-BR")
                locale = None
        return timezone, locale

    def _tags(self, row_no: int, cells: list[str], problems: list[Problem]) -> list[str] | None:
        found: dict[str, None] = {}
        if self.plan.tags is not None:
            for tag in cells[self.plan.tags].split(","):
                tag = tag.strip()
                if not tag:
                    continue
                if len(tag) > MAX_TAG:
                    self._warn(problems, row_no, tag, f"tag longer than {MAX_TAG} characters")
                    continue
                found[tag] = None
        for tag in self.import_tags:
            found[tag] = None
        if len(found) > MAX_TAGS:
            self._warn(problems, row_no, str(len(found)), f"more than {MAX_TAGS} tags")
            return list(found)[:MAX_TAGS]
        return list(found) or None


def _json_converter(spec: FieldSpec) -> Callable[[str], str]:
    """A cell's value for `spec` as JSON text, by `coerce`'s rules (so an import stores
    what the contacts API would), or InvalidFieldValue."""
    if spec.type is FieldType.text:

        def text(raw: str) -> str:
            if len(raw) > MAX_TEXT:
                coerce(spec, raw)  # raises, with the field's own message
            return encode_basestring(raw)

        return text

    # Numbers, dates, booleans and choices repeat a lot down a column: remember the
    # answer for each distinct cell, up to a bound.
    memo: dict[str, str] = {}

    def typed(raw: str) -> str:
        known = memo.get(raw)
        if known is not None:
            return known
        value = coerce(spec, raw)
        encoded = "true" if value is True else "false" if value is False else json.dumps(value)
        if len(memo) < _MEMO_LIMIT:
            memo[raw] = encoded
        return encoded

    return typed
