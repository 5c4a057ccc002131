"""Which contact attribute each column fills: the guess made at upload, and the checks
a mapping passes before an import may start."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from maily.contacts.addresses import InvalidAddress, normalize_email
from maily.contacts.fields import FieldSpec

__all__ = [
    "FIELD_PREFIX",
    "IGNORE",
    "STANDARD_TARGETS",
    "ColumnPlan",
    "InvalidMapping",
    "KnownField",
    "guess_mapping",
    "plan_columns",
    "validate_mapping",
]

IGNORE = "ignore"
FIELD_PREFIX = "field:"
STANDARD_TARGETS = ("email", "first_name", "last_name", "timezone", "locale", "tags")

# Header spellings seen in exports of common tools and spreadsheets, after `_normal`.
_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(
        ["email", "emailaddress", "mail", "emailadresse", "correo", "courriel", "emailaddr"],
        "email",
    ),
    **dict.fromkeys(
        ["firstname", "first", "givenname", "forename", "vorname", "prenom", "nombre"],
        "first_name",
    ),
    **dict.fromkeys(
        ["lastname", "last", "surname", "familyname", "nachname", "nom", "apellido"],
        "last_name",
    ),
    **dict.fromkeys(["timezone", "tz", "zeitzone"], "timezone"),
    **dict.fromkeys(["locale", "language", "lang", "sprache", "langue"], "locale"),
    **dict.fromkeys(["tags", "tag", "labels", "label"], "tags"),
}


class InvalidMapping(ValueError):
    """A mapping that cannot drive an import; the message says what to change."""


@dataclass(frozen=True)
class KnownField:
    """A workspace custom field, as the guess sees it."""

    key: str
    label: str


def _normal(name: str) -> str:
    """Lower-case ASCII letters and digits only: 'E-Mail Adresse' -> 'emailadresse'."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def _looks_like_addresses(values: Iterable[str]) -> bool:
    filled = [v for v in values if v.strip()]
    if not filled:
        return False
    valid = 0
    for value in filled:
        try:
            normalize_email(value)
            valid += 1
        except InvalidAddress:
            pass
    return valid * 2 > len(filled)


def guess_mapping(
    columns: Sequence[str], sample: Sequence[Sequence[str]], fields: Iterable[KnownField]
) -> dict[str, str]:
    """A target for every column: standard attributes by header name, custom fields by
    key or label, else 'ignore'. Each target goes to the first column claiming it. When
    no header names the address, the first column whose sample holds addresses does."""
    by_name: dict[str, str] = {}
    for known in fields:
        target = FIELD_PREFIX + known.key
        by_name.setdefault(_normal(known.key), target)
        by_name.setdefault(_normal(known.label), target)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        name = _normal(column)
        target = _SYNONYMS.get(name) or by_name.get(name) or IGNORE
        if target != IGNORE and target in taken:
            target = IGNORE
        taken.add(target)
        mapping[column] = target
    if "email" not in taken:
        for position, column in enumerate(columns):
            if mapping[column] == IGNORE and _looks_like_addresses(
                row[position] for row in sample if position < len(row)
            ):
                mapping[column] = "email"
                break
    return mapping


def validate_mapping(
    columns: Sequence[str], mapping: Mapping[str, str], field_keys: Iterable[str]
) -> dict[str, str]:
    """The mapping completed with 'ignore' for unnamed columns, or InvalidMapping."""
    unknown_columns = [c for c in mapping if c not in columns]
    if unknown_columns:
        raise InvalidMapping(f"the file has no column named {unknown_columns[0]!r}")
    keys = set(field_keys)
    complete = {column: mapping.get(column, IGNORE) for column in columns}
    used: dict[str, str] = {}
    for column, target in complete.items():
        if target == IGNORE:
            continue
        if target.startswith(FIELD_PREFIX):
            if target[len(FIELD_PREFIX) :] not in keys:
                raise InvalidMapping(
                    f"column {column!r}: this workspace has no custom field "
                    f"{target[len(FIELD_PREFIX) :]!r}"
                )
        elif target not in STANDARD_TARGETS:
            raise InvalidMapping(
                f"column {column!r}: unknown target {target!r}; use one of "
                f"{', '.join(STANDARD_TARGETS)}, field:<key> or ignore"
            )
        if target in used:
            raise InvalidMapping(f"columns {used[target]!r} and {column!r} both map to {target}")
        used[target] = column
    if "email" not in used:
        raise InvalidMapping("no column is mapped to email; one must be")
    return complete


@dataclass(frozen=True)
class ColumnPlan:
    """A mapping resolved to column positions, as the row checker reads it."""

    email: int
    first_name: int | None
    last_name: int | None
    timezone: int | None
    locale: int | None
    tags: int | None
    fields: tuple[tuple[int, FieldSpec], ...]
    width: int


def plan_columns(
    columns: Sequence[str], mapping: Mapping[str, str], specs: Mapping[str, FieldSpec]
) -> ColumnPlan:
    """Positions of the mapped columns; InvalidMapping if a mapped field is gone."""
    positions: dict[str, int] = {}
    fields: list[tuple[int, FieldSpec]] = []
    for position, column in enumerate(columns):
        target = mapping.get(column, IGNORE)
        if target.startswith(FIELD_PREFIX):
            key = target[len(FIELD_PREFIX) :]
            spec = specs.get(key)
            if spec is None:
                raise InvalidMapping(f"the custom field {key!r} was deleted after it was mapped")
            fields.append((position, spec))
        elif target != IGNORE:
            positions[target] = position
    if "email" not in positions:
        raise InvalidMapping("no column is mapped to email; one must be")
    return ColumnPlan(
        email=positions["email"],
        first_name=positions.get("first_name"),
        last_name=positions.get("last_name"),
        timezone=positions.get("timezone"),
        locale=positions.get("locale"),
        tags=positions.get("tags"),
        fields=tuple(fields),
        width=len(columns),
    )
