"""Which columns an export may have, and how each value is written in CSV and JSON Lines."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from maily.kit.csvsafe import CSVRowWriter

# Contact attributes an export can carry, in the order the UI offers them.
STANDARD_FIELDS: tuple[str, ...] = (
    "id",
    "email",
    "first_name",
    "last_name",
    "status",
    "timezone",
    "locale",
    "tags",
    "source",
    "created_at",
    "updated_at",
    "last_sent_at",
    "last_open_at",
    "last_click_at",
    "sends_count",
    "opens_count",
    "clicks_count",
)
# `list_status`: the status in the exported list (list exports only);
# `lists`: every list the contact is on, with its status there.
LIST_FIELDS: tuple[str, ...] = ("list_status", "lists")
# `fields.<key>`: the value of the custom field `<key>`.
CUSTOM_PREFIX = "fields."
DEFAULT_FIELDS: tuple[str, ...] = ("email", "first_name", "last_name", "status", "tags")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


class UnknownExportField(ValueError):
    def __init__(self, names: Sequence[str], reason: str) -> None:
        super().__init__(f"{reason}: {', '.join(names)}")
        self.names = list(names)
        self.reason = reason


@dataclass(frozen=True)
class ExportColumns:
    """The requested fields, split by where their values come from."""

    fields: tuple[str, ...]

    @property
    def standard(self) -> tuple[str, ...]:
        return tuple(f for f in self.fields if f in STANDARD_FIELDS)

    @property
    def needs_custom(self) -> bool:
        return any(f.startswith(CUSTOM_PREFIX) for f in self.fields)

    @property
    def needs_list_status(self) -> bool:
        return "list_status" in self.fields

    @property
    def needs_lists(self) -> bool:
        return "lists" in self.fields


def check_fields(
    fields: Sequence[str], custom_keys: Iterable[str], *, source: str
) -> ExportColumns:
    """Refuse fields that name nothing: a typo would otherwise export an empty column."""
    keys = set(custom_keys)
    unknown = [
        f
        for f in fields
        if f not in STANDARD_FIELDS
        and f not in LIST_FIELDS
        and not (f.startswith(CUSTOM_PREFIX) and f.removeprefix(CUSTOM_PREFIX) in keys)
    ]
    if unknown:
        raise UnknownExportField(unknown, "no such contact attribute or custom field")
    if "list_status" in fields and source != "list":
        raise UnknownExportField(["list_status"], "only an export of a list can have")
    return ExportColumns(tuple(fields))


def values_of(row: Mapping[Any, Any], columns: ExportColumns) -> list[Any]:
    """One contact's values, in column order, as the database gave them."""
    custom: Mapping[str, Any] = (row.get("fields") or {}) if columns.needs_custom else {}
    values: list[Any] = []
    for name in columns.fields:
        if name.startswith(CUSTOM_PREFIX):
            values.append(custom.get(name.removeprefix(CUSTOM_PREFIX)))
        elif name == "lists":
            values.append(dict(sorted((row.get("lists") or {}).items())))
        else:
            values.append(row[name])
    return values


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        # Tags: comma-separated in one cell, the form imports read back.
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        # Lists: `<list id>:<status>` pairs.
        return "; ".join(f"{k}:{v}" for k, v in value.items())
    return str(value)


class CSVEncoder:
    """A header line, then one line per contact; every cell escaped (see kit.csvsafe)."""

    def __init__(self, columns: ExportColumns) -> None:
        self.columns = columns
        self._writer = CSVRowWriter()

    def header(self) -> bytes:
        self._writer.write(self.columns.fields)
        return self._writer.take()

    def encode(self, rows: Iterable[Mapping[Any, Any]]) -> bytes:
        for row in rows:
            self._writer.write(_csv_cell(v) for v in values_of(row, self.columns))
        return self._writer.take()


class JSONLinesEncoder:
    """One JSON object per line, keyed by field name, values in their JSON types.

    No formula escaping: JSON Lines is read by programs, not spreadsheets, and
    escaping would change the data (a `-5` number is a number here)."""

    def __init__(self, columns: ExportColumns) -> None:
        self.columns = columns

    def header(self) -> bytes:
        return b""

    def encode(self, rows: Iterable[Mapping[Any, Any]]) -> bytes:
        lines = (
            json.dumps(
                {
                    name: _json_value(value)
                    for name, value in zip(
                        self.columns.fields, values_of(row, self.columns), strict=True
                    )
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
            for row in rows
        )
        return "".join(lines).encode("utf-8")


Encoder = CSVEncoder | JSONLinesEncoder


def encoder_for(format: str, columns: ExportColumns) -> Encoder:
    return CSVEncoder(columns) if format == "csv" else JSONLinesEncoder(columns)
