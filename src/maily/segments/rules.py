"""The segment rule language: a JSON tree of all/any groups and conditions, validated by Pydantic.

A rule node is one of
    {"all": [node, ...]}                                  every child matches
    {"any": [node, ...]}                                  at least one child matches
    {"field": "email", "op": "ends_with", "value": "@acme.com"}
    {"custom_field": "plan", "op": "in", "value": ["pro", "team"]}
    {"list": "<list id>", "op": "in", "status": "subscribed"}
    {"event": "opened", "op": "did", "within_days": 30, "campaign_id": "<id>"}
The key that names the node's kind picks its model (a discriminated union), so an error
is reported at the path of the bad node, e.g. `rules.all[2].any[0].value`. docs/segments.md
is the reference."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeAlias, get_args

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from maily.contacts.fields import MAX_TEXT, FieldType
from maily.kit.schemas import Schema

MAX_DEPTH = 6  # groups inside groups, the root group included
MAX_NODES = 200  # groups and conditions together
MAX_VALUES = 500  # items of an in / not_in list
MAX_TAGS = 100
MAX_TAG = 100  # contacts.tags is varchar(100)[]
MAX_DAYS = 36_500
# Far enough from date.min/max that a day either side, or any UTC offset, stays valid.
MIN_YEAR, MAX_YEAR = 1000, 9000

Loc: TypeAlias = tuple[str | int, ...]


class Op(StrEnum):
    eq = "eq"
    neq = "neq"
    in_ = "in"
    not_in = "not_in"
    contains = "contains"
    not_contains = "not_contains"
    starts_with = "starts_with"
    ends_with = "ends_with"
    is_set = "is_set"
    is_not_set = "is_not_set"
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    between = "between"
    before = "before"
    after = "after"
    on = "on"
    within_last_days = "within_last_days"
    more_than_days_ago = "more_than_days_ago"
    has = "has"
    has_any = "has_any"
    has_all = "has_all"
    has_none = "has_none"


class ValueKind(StrEnum):
    """What a condition compares, which decides its operators and the shape of its value."""

    text = "text"
    choice = "choice"
    number = "number"
    boolean = "boolean"
    date = "date"  # a calendar day (custom date fields, stored as YYYY-MM-DD)
    timestamp = "timestamp"  # a moment (created_at, updated_at)
    tags = "tags"


OPERATORS: dict[ValueKind, tuple[Op, ...]] = {
    ValueKind.text: (
        Op.eq, Op.neq, Op.in_, Op.not_in, Op.contains, Op.not_contains,
        Op.starts_with, Op.ends_with, Op.is_set, Op.is_not_set,
    ),
    ValueKind.choice: (Op.eq, Op.neq, Op.in_, Op.not_in, Op.is_set, Op.is_not_set),
    ValueKind.number: (
        Op.eq, Op.neq, Op.in_, Op.not_in, Op.gt, Op.gte, Op.lt, Op.lte, Op.between,
        Op.is_set, Op.is_not_set,
    ),
    ValueKind.boolean: (Op.eq, Op.is_set, Op.is_not_set),
    ValueKind.date: (
        Op.before, Op.after, Op.on, Op.between, Op.within_last_days, Op.more_than_days_ago,
        Op.is_set, Op.is_not_set,
    ),
    ValueKind.timestamp: (
        Op.before, Op.after, Op.on, Op.between, Op.within_last_days, Op.more_than_days_ago,
    ),
    ValueKind.tags: (Op.has, Op.has_any, Op.has_all, Op.has_none),
}  # fmt: skip

StandardField = Literal[
    "email",
    "first_name",
    "last_name",
    "domain",
    "status",
    "source",
    "timezone",
    "locale",
    "created_at",
    "updated_at",
    "tags",
]
STANDARD_FIELDS: dict[str, ValueKind] = {
    "email": ValueKind.text,
    "first_name": ValueKind.text,
    "last_name": ValueKind.text,
    "domain": ValueKind.text,
    "status": ValueKind.choice,
    "source": ValueKind.choice,
    "timezone": ValueKind.text,
    "locale": ValueKind.text,
    "created_at": ValueKind.timestamp,
    "updated_at": ValueKind.timestamp,
    "tags": ValueKind.tags,
}
assert set(STANDARD_FIELDS) == set(get_args(StandardField))
STANDARD_CHOICES: dict[str, tuple[str, ...]] = {
    "status": ("subscribed", "unsubscribed", "bounced", "complained", "cleaned"),
    "source": ("import", "api", "form", "admin"),
}
# The kinds a custom field can have: maily.contacts.fields.FieldType, value for value.
CUSTOM_KINDS = (
    ValueKind.text, ValueKind.choice, ValueKind.number, ValueKind.boolean, ValueKind.date,
)  # fmt: skip
assert {str(kind) for kind in CUSTOM_KINDS} == {str(type_) for type_ in FieldType}
CUSTOM_OPERATORS = frozenset(op for kind in CUSTOM_KINDS for op in OPERATORS[kind])

# The events table's type for each engagement a rule can ask about.
EVENT_TYPES: dict[str, str] = {"received": "sent", "opened": "open", "clicked": "click"}
MembershipStatus = Literal["subscribed", "unconfirmed", "unsubscribed"]


# -- values -----------------------------------------------------------------------


class InvalidValue(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _text(raw: Any, max_length: int = MAX_TEXT) -> str:
    if not isinstance(raw, str):
        raise InvalidValue("expected text")
    if len(raw) > max_length:
        raise InvalidValue(f"longer than {max_length} characters")
    try:
        raw.encode()
    except UnicodeEncodeError as exc:  # lone surrogates: PostgreSQL cannot store them
        raise InvalidValue("text is not valid Unicode") from exc
    return raw


def _number(raw: Any) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidValue("expected a number")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise InvalidValue("expected a finite number")
    return raw


def _year_in_range(value: dt.date) -> None:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidValue(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")


def _date(raw: Any) -> dt.date:
    if not isinstance(raw, str) or len(raw) != 10:
        raise InvalidValue("expected a date as YYYY-MM-DD")
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidValue("expected a date as YYYY-MM-DD") from exc
    _year_in_range(value)
    return value


def _moment(raw: Any) -> dt.date | dt.datetime:
    """A day (YYYY-MM-DD) or an ISO 8601 timestamp; a timestamp without offset is UTC."""
    if isinstance(raw, str) and len(raw) == 10:
        return _date(raw)
    if not isinstance(raw, str) or len(raw) > 40:
        raise InvalidValue("expected a date (YYYY-MM-DD) or an ISO 8601 timestamp")
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidValue("expected a date (YYYY-MM-DD) or an ISO 8601 timestamp") from exc
    _year_in_range(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _days(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_DAYS:
        raise InvalidValue(f"expected a whole number of days from 0 to {MAX_DAYS}")
    return raw


def _tag(raw: Any) -> str:
    tag = _text(raw, MAX_TAG)
    if not tag:
        raise InvalidValue("a tag cannot be empty")
    return tag


def _scalar(kind: ValueKind, raw: Any, choices: Sequence[str] | None) -> Any:
    if kind is ValueKind.number:
        return _number(raw)
    if kind is ValueKind.boolean:
        if not isinstance(raw, bool):
            raise InvalidValue("expected true or false")
        return raw
    if kind is ValueKind.date:
        return _date(raw)
    if kind is ValueKind.timestamp:
        return _moment(raw)
    if kind is ValueKind.tags:
        return _tag(raw)
    text = _text(raw)
    if kind is ValueKind.choice and choices is not None and text not in choices:
        raise InvalidValue(f"{text!r} is not one of: {', '.join(choices)}")
    return text


def _items(raw: Any, limit: int) -> list[Any]:
    if not isinstance(raw, list) or not raw:
        raise InvalidValue("expected a non-empty list")
    if len(raw) > limit:
        raise InvalidValue(f"at most {limit} values")
    return raw


def day_start(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time(), dt.UTC)


def parse_value(kind: ValueKind, op: Op, raw: Any, choices: Sequence[str] | None = None) -> Any:
    """The typed value of a condition (`op` already fits `kind`), or InvalidValue.

    `choices` limits choice values; None leaves them unchecked."""
    if op in (Op.is_set, Op.is_not_set):
        if raw is not None:
            raise InvalidValue(f"{op} takes no value")
        return None
    if raw is None:
        raise InvalidValue(f"{op} needs a value")
    if op in (Op.within_last_days, Op.more_than_days_ago):
        return _days(raw)
    if op in (Op.has_any, Op.has_all, Op.has_none):
        return [_tag(item) for item in _items(raw, MAX_TAGS)]
    if op in (Op.in_, Op.not_in):
        values = []
        for index, item in enumerate(_items(raw, MAX_VALUES)):
            try:
                values.append(_scalar(kind, item, choices))
            except InvalidValue as exc:
                raise InvalidValue(f"item {index}: {exc.reason}") from exc
        return values
    if op is Op.between:
        if not isinstance(raw, list) or len(raw) != 2:
            raise InvalidValue("expected a list of two values, [from, to]")
        low, high = (_scalar(kind, item, choices) for item in raw)
        ordered = day_start(low) <= day_start(high) if kind is ValueKind.timestamp else low <= high
        if not ordered:
            raise InvalidValue("the first value must not be after the second")
        return [low, high]
    if op in (Op.contains, Op.not_contains, Op.starts_with, Op.ends_with):
        text = _text(raw)
        if not text:
            raise InvalidValue(f"{op} needs a non-empty text")
        return text
    return _scalar(kind, raw, choices)


def check_operator(kind: ValueKind, op: Op, subject: str) -> None:
    if op not in OPERATORS[kind]:
        allowed = ", ".join(OPERATORS[kind])
        raise InvalidValue(f"{op} does not apply to {subject} ({kind}); use one of: {allowed}")


# -- the tree ---------------------------------------------------------------------


def _custom_error(kind: str, reason: str) -> PydanticCustomError:
    # The reason goes in the context: a template would read braces in it as placeholders.
    return PydanticCustomError(kind, "{reason}", {"reason": reason})


# Values are typed by the operator and the field, so the schema only describes JSON.
JSONValue = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "array", "items": {"type": ["string", "number", "boolean"]}},
                {"type": "null"},
            ],
            "description": "Depends on the operator: see docs/segments.md",
        }
    ),
]


class RuleModel(Schema):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldCondition(RuleModel):
    """A standard contact attribute: email, names, status, source, dates, tags…"""

    field: StandardField
    op: Op
    value: JSONValue = Field(default=None, validate_default=True)

    @field_validator("op")
    @classmethod
    def _op_fits_field(cls, op: Op, info: ValidationInfo) -> Op:
        field = info.data.get("field")
        if field is not None:
            try:
                check_operator(STANDARD_FIELDS[field], op, field)
            except InvalidValue as exc:
                raise _custom_error("operator_not_allowed", exc.reason) from exc
        return op

    @field_validator("value")
    @classmethod
    def _typed_value(cls, value: Any, info: ValidationInfo) -> Any:
        field, op = info.data.get("field"), info.data.get("op")
        if field is None or op is None:  # already reported
            return value
        try:
            return parse_value(STANDARD_FIELDS[field], op, value, STANDARD_CHOICES.get(field))
        except InvalidValue as exc:
            raise _custom_error("invalid_value", exc.reason) from exc


class CustomFieldCondition(RuleModel):
    """A custom field; its type (known per workspace) is checked when the rules are used."""

    custom_field: Annotated[str, Field(min_length=1, max_length=64)]
    op: Op
    value: JSONValue = Field(default=None, validate_default=True)

    @field_validator("op")
    @classmethod
    def _custom_op(cls, op: Op) -> Op:
        if op not in CUSTOM_OPERATORS:
            allowed = ", ".join(o for o in Op if o in CUSTOM_OPERATORS)
            raise _custom_error(
                "operator_not_allowed", f"{op} does not apply to custom fields; use {allowed}"
            )
        return op

    @field_validator("value")
    @classmethod
    def _value_shape(cls, value: Any, info: ValidationInfo) -> Any:
        """What can be checked without the field's type: presence and JSON shape."""
        op = info.data.get("op")
        if op is None:
            return value
        kinds = [k for k in CUSTOM_KINDS if op in OPERATORS[k]]
        reasons: list[str] = []
        for kind in kinds:
            try:
                parse_value(kind, op, value)
            except InvalidValue as exc:
                if exc.reason not in reasons:
                    reasons.append(exc.reason)
            else:
                return value  # the raw JSON: the field's type decides what it means
        # "expected text", "expected a number" -> "expected text or a number"
        words = [reasons[0], *(r.removeprefix("expected ") for r in reasons[1:])]
        raise _custom_error("invalid_value", " or ".join(words))


class ListCondition(RuleModel):
    """Membership of a list, optionally with a given status there."""

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    list_id: uuid.UUID = Field(alias="list")
    op: Literal["in", "not_in"] = "in"
    status: MembershipStatus | None = None


class EventCondition(RuleModel):
    """Engagement: received, opened or clicked a given campaign (from the events) or
    any campaign (from the contact's latest-engagement columns)."""

    event: Literal["received", "opened", "clicked"]
    op: Literal["did", "did_not"] = "did"
    campaign_id: uuid.UUID | None = None
    within_days: Annotated[int, Field(ge=1, le=MAX_DAYS)] | None = None


class AllGroup(RuleModel):
    all: list[RuleNode]


class AnyGroup(RuleModel):
    any: list[RuleNode]


Condition: TypeAlias = FieldCondition | CustomFieldCondition | ListCondition | EventCondition
Group: TypeAlias = AllGroup | AnyGroup
Node: TypeAlias = Condition | Group

# The key that names a node's kind, and the model for it. Tags carry a colon, which no
# field name can, so error locations can drop them (see `clean_loc`).
_KINDS: dict[str, type[RuleModel]] = {
    "all": AllGroup,
    "any": AnyGroup,
    "field": FieldCondition,
    "custom_field": CustomFieldCondition,
    "list": ListCondition,
    "event": EventCondition,
}
_TAGS = {f"rule:{key}" for key in _KINDS}


def _kind_of(node: Any) -> str | None:
    if isinstance(node, dict):
        key = next((k for k in _KINDS if k in node), None)
    else:
        key = next((k for k, model in _KINDS.items() if isinstance(node, model)), None)
    return f"rule:{key}" if key else None


RuleNode = Annotated[
    # Conditions first: generated examples take the first option, and it must not recurse.
    Annotated[FieldCondition, Tag("rule:field")]
    | Annotated[CustomFieldCondition, Tag("rule:custom_field")]
    | Annotated[ListCondition, Tag("rule:list")]
    | Annotated[EventCondition, Tag("rule:event")]
    | Annotated[AllGroup, Tag("rule:all")]
    | Annotated[AnyGroup, Tag("rule:any")],
    Discriminator(
        _kind_of,
        custom_error_type="rule_kind",
        custom_error_message=(
            "a rule is an object with one of the keys all, any, field, custom_field, list, event"
        ),
    ),
]
AllGroup.model_rebuild()
AnyGroup.model_rebuild()


def _children(node: Any) -> Iterator[tuple[str, list[Any]]]:
    """The child lists of a raw (JSON) or validated group node."""
    for key in ("all", "any"):
        children = node.get(key) if isinstance(node, dict) else getattr(node, key, None)
        if isinstance(children, list):
            yield key, children


class SegmentRules(RootModel[RuleNode]):
    """A segment's rules: a condition, or all/any groups of rules nested up to 6 deep."""

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        # Checked on the raw JSON, before parsing, so a huge payload is refused cheaply.
        nodes = 0
        stack: list[tuple[Any, int, Loc]] = [(data, 1, ())]
        while stack:
            node, depth, loc = stack.pop()
            nodes += 1
            if nodes > MAX_NODES:
                raise _custom_error(
                    "rules_too_large", f"a segment has at most {MAX_NODES} rules and groups"
                )
            for key, children in _children(node):
                if depth > MAX_DEPTH:
                    where = render_path(("rules", *loc))
                    raise _custom_error(
                        "rules_too_deep",
                        f"groups nest at most {MAX_DEPTH} deep; the group at {where} is deeper",
                    )
                stack.extend((c, depth + 1, (*loc, key, i)) for i, c in enumerate(children))
        return data

    def walk(self) -> Iterator[tuple[Loc, Node]]:
        """Every node with its location under the root, depth first."""
        stack: list[tuple[Loc, Node]] = [((), self.root)]
        while stack:
            loc, node = stack.pop()
            yield loc, node
            if isinstance(node, AllGroup):
                stack.extend(((*loc, "all", i), c) for i, c in reversed(list(enumerate(node.all))))
            elif isinstance(node, AnyGroup):
                stack.extend(((*loc, "any", i), c) for i, c in reversed(list(enumerate(node.any))))

    def to_json(self) -> dict[str, Any]:
        """The stored form: plain JSON, without the defaults left empty."""
        data = self.model_dump(mode="json", exclude_none=True, by_alias=True)
        assert isinstance(data, dict)
        return data


# -- problems and their paths -------------------------------------------------------


@dataclass(frozen=True)
class RuleProblem:
    """Something wrong with one node, found where the workspace's data is known."""

    loc: Loc  # under the rule tree's root
    message: str
    type: str


def render_path(loc: Sequence[str | int]) -> str:
    """('rules', 'all', 2, 'any', 0, 'value') -> 'rules.all[2].any[0].value'."""
    path = ""
    for part in loc:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def clean_loc(loc: Sequence[str | int]) -> Loc:
    """A Pydantic location without the union tags it adds for each rule node."""
    return tuple(part for part in loc if part not in _TAGS)


_SOURCES = {"body", "query", "path", "header", "cookie"}


def error_detail(loc: Sequence[str | int], message: str, type_: str) -> dict[str, Any]:
    """One entry of the API's error details: `loc` as the API always gives it, and `path`,
    the same place written the way a person reads it (`rules.all[2].value`)."""
    cleaned = clean_loc(loc)
    readable = cleaned[1:] if cleaned and cleaned[0] in _SOURCES else cleaned
    return {
        "loc": [str(part) for part in cleaned],
        "path": render_path(readable) or render_path(cleaned),
        "message": message,
        "type": type_,
    }


def problem_details(problems: Sequence[RuleProblem], prefix: Loc) -> list[dict[str, Any]]:
    return [error_detail((*prefix, *p.loc), p.message, p.type) for p in problems]


def validation_details(
    errors: Sequence[Mapping[str, Any]], prefix: Loc = ()
) -> list[dict[str, Any]]:
    """Pydantic / FastAPI validation errors as error details with readable paths."""
    return [
        error_detail((*prefix, *e.get("loc", ())), str(e.get("msg", "")), str(e.get("type", "")))
        for e in errors
    ]
