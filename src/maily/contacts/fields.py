"""Custom field types and the validation of values against them."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Keys that would shadow a standard contact attribute in mappings and segments.
RESERVED_KEYS = frozenset(
    {"email", "first_name", "last_name", "status", "timezone", "locale", "tags", "source",
     "domain", "created_at", "updated_at", "id", "lists"}
)  # fmt: skip
MAX_TEXT = 2000


class FieldType(StrEnum):
    text = "text"
    number = "number"
    date = "date"
    boolean = "boolean"
    choice = "choice"


@dataclass(frozen=True)
class FieldSpec:
    key: str
    type: FieldType
    choices: tuple[str, ...] = ()


class InvalidFieldValue(ValueError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def coerce(spec: FieldSpec, value: Any) -> Any:
    """The stored JSON form of `value` for this field, or InvalidFieldValue.
    Strings are accepted for every type (CSV imports carry only text); None clears."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if spec.type is FieldType.text:
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_TEXT:
            raise InvalidFieldValue(spec.key, f"longer than {MAX_TEXT} characters")
        return text
    if spec.type is FieldType.number:
        if isinstance(value, bool):
            raise InvalidFieldValue(spec.key, "expected a number")
        try:
            number = (
                float(value.strip().replace(",", ".")) if isinstance(value, str) else float(value)
            )
        except (TypeError, ValueError) as exc:
            raise InvalidFieldValue(spec.key, f"expected a number, got {value!r}") from exc
        if not math.isfinite(number):
            raise InvalidFieldValue(spec.key, "expected a finite number")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if spec.type is FieldType.date:
        try:
            return datetime.date.fromisoformat(str(value).strip()[:10]).isoformat()
        except ValueError as exc:
            raise InvalidFieldValue(spec.key, f"expected a date YYYY-MM-DD, got {value!r}") from exc
    if spec.type is FieldType.boolean:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise InvalidFieldValue(spec.key, f"expected true or false, got {value!r}")
    choice = str(value).strip()
    if choice not in spec.choices:
        raise InvalidFieldValue(spec.key, f"{choice!r} is not one of {', '.join(spec.choices)}")
    return choice


def validate_values(specs: Mapping[str, FieldSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce every value; unknown keys are refused. None values remove the key."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            raise InvalidFieldValue(key, "no such custom field in this workspace")
        out[key] = coerce(spec, value)
    return out
