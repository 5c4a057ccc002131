"""Request and response models for signup forms and for what their visitors submit."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from maily.kit.schemas import ORMSchema, Schema

# Besides the address (always asked), a form may ask these or any custom field.
STANDARD_FIELDS = {"first_name": "First name", "last_name": "Last name"}
MAX_FORM_FIELDS = 20

FieldKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
SuccessMessage = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


_HOST = re.compile(r"[a-z0-9.-]+|[0-9a-f:.]+")  # urlsplit lower-cases hostnames


def _http_url(value: str) -> str:
    """Only absolute http(s) URLs: a javascript: or data: URL here would run in the
    visitor's browser after they submit."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if "@" in parts.netloc or not _HOST.fullmatch(parts.hostname):
        raise ValueError("must name a plain host (no user name, no unusual characters)")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain spaces or control characters")
    try:
        _ = parts.port  # a malformed port raises here
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    return value


RedirectURL = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2000), AfterValidator(_http_url)
]


class FormField(Schema):
    """One question on the form besides the address."""

    key: FieldKey = Field(description="first_name, last_name or a custom field key")
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = Field(
        default="", description="Shown to visitors; empty uses the field's own label"
    )
    required: bool = False


def _unique_keys(fields: list[FormField] | None) -> list[FormField] | None:
    if fields is not None:
        keys = [f.key for f in fields]
        if len(set(keys)) != len(keys):
            raise ValueError("each field may appear only once")
        if "email" in keys:
            raise ValueError("the email address is always asked; do not list it")
    return fields


class FormCreate(Schema):
    list_id: uuid.UUID
    name: Title
    title: Title
    description: Description = ""
    fields: list[FormField] = Field(default_factory=list, max_length=MAX_FORM_FIELDS)
    success_message: SuccessMessage = ""
    redirect_url: RedirectURL | None = None
    enabled: bool = True

    _fields = field_validator("fields", mode="after")(_unique_keys)


class FormUpdate(Schema):
    """Only the fields sent change; redirect_url null removes the redirect."""

    list_id: uuid.UUID | None = None
    name: Title | None = None
    title: Title | None = None
    description: Description | None = None
    fields: list[FormField] | None = Field(default=None, max_length=MAX_FORM_FIELDS)
    success_message: SuccessMessage | None = None
    redirect_url: RedirectURL | None = None
    enabled: bool | None = None

    _fields = field_validator("fields", mode="after")(_unique_keys)


class FormOut(ORMSchema):
    id: uuid.UUID
    list_id: uuid.UUID
    public_id: str
    name: str
    title: str
    description: str
    fields: list[FormField]
    success_message: str
    redirect_url: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class FormWithURL(FormOut):
    hosted_url: str = Field(description="The form's public page, and where it posts")


class FormSnippet(Schema):
    html: str = Field(description="A <form> to paste into any web page; it posts to Maily")
    url: str = Field(description="Where the form posts (also its hosted page)")


# Values are text from a browser, or JSON scalars from a script.
FieldValue = str | int | float | bool | None


class Submission(Schema):
    """What a visitor sends to a form, form-encoded or as JSON. Lengths are capped
    here; the form's own rules (required, field types) are checked by the service."""

    email: Annotated[str, StringConstraints(max_length=320)] = ""
    first_name: Annotated[str, StringConstraints(max_length=200)] = ""
    last_name: Annotated[str, StringConstraints(max_length=200)] = ""
    fields: dict[Annotated[str, StringConstraints(max_length=64)], FieldValue] = Field(
        default_factory=dict, max_length=MAX_FORM_FIELDS * 2
    )
    # The honeypot: hidden from people, so only a bot fills it in.
    url: Annotated[str, StringConstraints(max_length=2000)] = ""

    @field_validator("fields", mode="after")
    @classmethod
    def _short_text(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if isinstance(item, str) and len(item) > 2000:
                raise ValueError(f"{key}: longer than 2000 characters")
        return value
