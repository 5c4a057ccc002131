"""Base for request and response models: rules every piece of client text obeys."""

from __future__ import annotations

import re
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator

# The IANA time zone names this Python knows (PostgreSQL's are the same database).
TIMEZONES = frozenset(available_timezones()) | {"UTC"}


def _known_zone(value: str) -> str:
    if value not in TIMEZONES:
        raise ValueError(f"{value!r} is not an IANA time zone name (like Europe/Paris)")
    return value


Timezone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(_known_zone)
]

# A language tag as contacts carry it: en, pt-BR, zh-Hant-TW (35 characters at most).
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
MAX_LOCALE = 35


def is_locale(value: str) -> bool:
    return len(value) <= MAX_LOCALE and _LOCALE.fullmatch(value) is not None


def _locale(value: str) -> str:
    if not is_locale(value):
        raise ValueError(
            f"{value!r} is not a locale: use a language tag like en, pt-BR or zh-Hant-TW"
        )
    return value


Locale = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_LOCALE), AfterValidator(_locale)
]


def contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set):
        return any(contains_nul(v) for v in value)
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    return False


class Schema(BaseModel):
    """PostgreSQL text cannot hold NUL characters, so they are refused at the door
    with a 422 instead of failing deep inside a query."""

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if contains_nul(value):
            raise ValueError("text must not contain NUL characters")
        return value


class ORMSchema(Schema):
    model_config = ConfigDict(from_attributes=True)
