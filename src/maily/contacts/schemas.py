"""Request and response models for contacts, custom fields, lists and suppressions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from maily.contacts.fields import FieldType
from maily.kit.schemas import Locale, ORMSchema, Schema, Timezone

ContactStatus = Literal["subscribed", "unsubscribed", "bounced", "complained", "cleaned"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
EmailText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]


# -- custom fields ----------------------------------------------------------------


class CustomFieldCreate(Schema):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    type: FieldType
    choices: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=200
    )

    @model_validator(mode="after")
    def _choices_fit_type(self) -> CustomFieldCreate:
        if self.type is FieldType.choice and not self.choices:
            raise ValueError("a choice field needs at least one choice")
        if self.type is not FieldType.choice and self.choices:
            raise ValueError("only choice fields take choices")
        return self


class CustomFieldUpdate(Schema):
    label: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    choices: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=200
    )


class CustomFieldOut(ORMSchema):
    id: uuid.UUID
    key: str
    label: str
    type: FieldType
    choices: list[str]
    created_at: datetime


# -- lists ------------------------------------------------------------------------


class ListCreate(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    opt_in: Literal["single", "double"] = "single"
    visibility: Literal["public", "private"] = "private"


class ListUpdate(Schema):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    opt_in: Literal["single", "double"] | None = None
    visibility: Literal["public", "private"] | None = None


class ListOut(ORMSchema):
    id: uuid.UUID
    name: str
    description: str
    opt_in: str
    visibility: str
    created_at: datetime


class ListWithCounts(ListOut):
    subscribed: int = 0
    unconfirmed: int = 0
    unsubscribed: int = 0


# -- contacts ---------------------------------------------------------------------


class ContactCreate(Schema):
    email: EmailText
    first_name: Name = ""
    last_name: Name = ""
    status: Literal["subscribed", "unsubscribed"] = "subscribed"
    timezone: Timezone | None = None
    locale: Locale | None = None
    fields: dict[Annotated[str, StringConstraints(max_length=64)], Any] = Field(
        default_factory=dict
    )
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    list_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)


class ContactUpdate(Schema):
    email: EmailText | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    timezone: Timezone | None = None
    locale: Locale | None = None
    # Merged into the stored values; a null removes a field.
    fields: dict[Annotated[str, StringConstraints(max_length=64)], Any] | None = None
    tags: list[Tag] | None = Field(default=None, max_length=100)


class MembershipOut(Schema):
    list_id: uuid.UUID
    status: str
    updated_at: datetime


class ContactOut(ORMSchema):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    status: str
    timezone: str | None
    locale: str | None
    fields: dict[str, Any]
    tags: list[str]
    source: str
    last_sent_at: datetime | None
    last_open_at: datetime | None
    last_click_at: datetime | None
    sends_count: int
    opens_count: int
    clicks_count: int
    created_at: datetime
    updated_at: datetime


class ContactDetail(ContactOut):
    lists: list[MembershipOut]
    suppressed: bool


class ConsentOut(ORMSchema):
    id: uuid.UUID
    list_id: uuid.UUID | None
    action: str
    source: str
    channel: str | None
    reason: str | None
    ip: str | None
    user_agent: str | None
    occurred_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _ip_as_text(cls, data: Any) -> Any:
        ip = getattr(data, "ip", None)
        if ip is not None and not isinstance(ip, str):
            return {k: getattr(data, k) for k in cls.model_fields} | {"ip": str(ip)}
        return data


class ContactSearch(Schema):
    q: str | None = None
    tag: str | None = None
    list_id: uuid.UUID | None = None
    status: ContactStatus | None = None
    field: str | None = None
    value: str | None = None


class Selection(Schema):
    """Which contacts a bulk action applies to: ids, a saved segment, or a rule tree."""

    contact_ids: list[uuid.UUID] | None = Field(default=None, max_length=10_000)
    segment_id: uuid.UUID | None = None
    all: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> Selection:
        chosen = sum([self.contact_ids is not None, self.segment_id is not None, self.all])
        if chosen != 1:
            raise ValueError("choose exactly one of contact_ids, segment_id or all")
        return self


class BulkAction(Schema):
    action: Literal["tag", "untag", "add_to_list", "remove_from_list", "unsubscribe", "delete"]
    selection: Selection
    tag: Tag | None = None
    list_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _arguments(self) -> BulkAction:
        if self.action in ("tag", "untag") and not self.tag:
            raise ValueError(f"{self.action} needs a tag")
        if self.action in ("add_to_list", "remove_from_list") and not self.list_id:
            raise ValueError(f"{self.action} needs a list_id")
        return self


class BulkResult(Schema):
    action: str
    affected: int


# -- suppression ------------------------------------------------------------------


class SuppressionCreate(Schema):
    kind: Literal["address", "domain"] = "address"
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    reason: Literal["manual", "hard_bounce", "complaint", "unsubscribe"] = "manual"
    note: Annotated[str, StringConstraints(max_length=500)] = ""


class SuppressionOut(ORMSchema):
    id: uuid.UUID
    kind: str
    value: str | None
    reason: str
    note: str
    created_at: datetime
