"""Rule trees compiled to one parameterised SQLAlchemy Core predicate over contacts.

This module is the segments domain's public face for other code (campaign audiences,
exports, bulk actions): `segment_predicate()` for a rule tree, `load_segment_predicate()`
for a saved segment. Every value travels as a bind parameter; no SQL text is built."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    ColumnElement,
    Numeric,
    String,
    and_,
    case,
    cast,
    collate,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    true,
    type_coerce,
)
from sqlalchemy.dialects import postgresql

from maily.contacts.fields import FieldType as CustomFieldType
from maily.kit.db import AsyncSession
from maily.kit.errors import Conflict, NotFound
from maily.models import Contact, Event, ListMembership
from maily.segments.repository import SegmentRepository
from maily.segments.rules import (
    EVENT_TYPES,
    STANDARD_FIELDS,
    AllGroup,
    AnyGroup,
    CustomFieldCondition,
    EventCondition,
    FieldCondition,
    InvalidValue,
    ListCondition,
    Loc,
    Node,
    Op,
    RuleProblem,
    SegmentRules,
    ValueKind,
    check_operator,
    day_start,
    parse_value,
    problem_details,
    validation_details,
)

__all__ = [
    "CustomFieldType",
    "InvalidRules",
    "SegmentOutOfDate",
    "SegmentRules",
    "load_segment_predicate",
    "segment_predicate",
]

_COLUMNS: dict[str, ColumnElement[Any]] = {
    "email": Contact.email.expression,
    "first_name": Contact.first_name.expression,
    "last_name": Contact.last_name.expression,
    "domain": Contact.domain.expression,
    "status": Contact.status.expression,
    "source": Contact.source.expression,
    "timezone": Contact.timezone.expression,
    "locale": Contact.locale.expression,
    "created_at": Contact.created_at.expression,
    "updated_at": Contact.updated_at.expression,
}
# Stored trimmed and lower-cased, so values are lower-cased instead of the column:
# the comparison stays case-insensitive and the (workspace_id, email) indexes still apply.
_FOLDED = frozenset({"email", "domain"})
_ISO_DAY = r"^\d{4}-\d{2}-\d{2}$"
_ONE_DAY = timedelta(days=1)


class InvalidRules(ValueError):
    """The rules do not fit the workspace: an unknown custom field, an operator or a
    value that does not suit the field's type."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)


class SegmentOutOfDate(Conflict):
    """A saved segment that no longer fits its workspace (say a custom field it uses was
    deleted): it must be edited before it can be used."""

    code = "segment_out_of_date"


def _negate(predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """NOT, with an unknown (NULL) comparison counted as a match: "is not x" includes
    contacts that have no value at all."""
    return not_(func.coalesce(predicate, false()))


def _like(value: str, *, prefix: str = "", suffix: str = "") -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{prefix}{escaped}{suffix}"


def _match(expr: ColumnElement[str], op: Op, value: str, folded: bool) -> ColumnElement[bool]:
    """contains / starts_with / ends_with, ignoring case."""
    pattern = _like(
        value.lower() if folded else value,
        prefix="" if op is Op.starts_with else "%",
        suffix="" if op is Op.ends_with else "%",
    )
    # A lower-cased column needs no ILIKE, and LIKE 'ann%' can use the prefix index.
    return expr.like(pattern, escape="\\") if folded else expr.ilike(pattern, escape="\\")


class _Compiler:
    def __init__(
        self,
        workspace_id: uuid.UUID,
        fields: Mapping[str, CustomFieldType],
        now: datetime,
    ) -> None:
        self.workspace_id = workspace_id
        self.fields = fields
        self.now = now
        self.today = now.astimezone(UTC).date()
        self.problems: list[RuleProblem] = []

    def node(self, node: Node, loc: Loc) -> ColumnElement[bool]:
        if isinstance(node, AllGroup):
            parts = [self.node(child, (*loc, "all", i)) for i, child in enumerate(node.all)]
            return and_(*parts) if parts else true()
        if isinstance(node, AnyGroup):
            parts = [self.node(child, (*loc, "any", i)) for i, child in enumerate(node.any)]
            return or_(*parts) if parts else false()
        if isinstance(node, FieldCondition):
            return self.standard(node)
        if isinstance(node, CustomFieldCondition):
            return self.custom(node, loc)
        if isinstance(node, ListCondition):
            return self.membership(node)
        return self.engagement(node)

    # -- standard fields ------------------------------------------------------------

    def standard(self, node: FieldCondition) -> ColumnElement[bool]:
        kind = STANDARD_FIELDS[node.field]
        if kind is ValueKind.tags:
            return self.tags(node.op, node.value)
        column = _COLUMNS[node.field]
        if kind is ValueKind.timestamp:
            return self.moment(column, node.op, node.value)
        folded = node.field in _FOLDED
        value = node.value
        if folded:
            value = [v.lower() for v in value] if isinstance(value, list) else value
            value = value.lower() if isinstance(value, str) else value
        return self.text(column, node.op, value, folded=folded)

    def text(
        self, column: ColumnElement[Any], op: Op, value: Any, *, folded: bool = False
    ) -> ColumnElement[bool]:
        equal: ColumnElement[bool] = column == value
        if op is Op.eq:
            return equal
        if op is Op.neq:
            return _negate(equal)
        if op is Op.in_:
            return column.in_(value)
        if op is Op.not_in:
            return _negate(column.in_(value))
        if op in (Op.contains, Op.starts_with, Op.ends_with):
            return _match(column, op, value, folded)
        if op is Op.not_contains:
            return _negate(_match(column, Op.contains, value, folded))
        is_set = and_(column.is_not(None), column != "")
        return is_set if op is Op.is_set else _negate(is_set)

    def moment(self, column: ColumnElement[Any], op: Op, value: Any) -> ColumnElement[bool]:
        """A timestamp column against days (whole UTC days) or moments."""
        if op is Op.within_last_days:
            return column >= self.now - timedelta(days=value)
        if op is Op.more_than_days_ago:
            return column < self.now - timedelta(days=value)
        if op is Op.before:
            return column < day_start(value)
        if op is Op.after:
            if isinstance(value, datetime):
                return column > value
            return column >= day_start(value) + _ONE_DAY
        if op is Op.on:
            day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
            return and_(column >= day_start(day), column < day_start(day) + _ONE_DAY)
        low, high = value
        upper = (
            column <= high if isinstance(high, datetime) else column < day_start(high) + _ONE_DAY
        )
        return and_(column >= day_start(low), upper)

    def tags(self, op: Op, value: Any) -> ColumnElement[bool]:
        # Array operators, so the GIN index on tags serves them.
        # As PostgreSQL's ARRAY, whatever the model declares: it is the one with @> and &&.
        tags = type_coerce(Contact.tags, postgresql.ARRAY(String(100)))
        if op is Op.has:
            return tags.contains([value])
        if op is Op.has_all:
            return tags.contains(value)
        overlap: ColumnElement[bool] = tags.overlap(value)
        return overlap if op is Op.has_any else not_(overlap)

    # -- custom fields --------------------------------------------------------------

    def custom(self, node: CustomFieldCondition, loc: Loc) -> ColumnElement[bool]:
        key = node.custom_field
        field_type = self.fields.get(key)
        if field_type is None:
            self.problems.append(
                RuleProblem(
                    (*loc, "custom_field"),
                    f"there is no custom field {key!r} in this workspace",
                    "unknown_custom_field",
                )
            )
            return false()
        kind = ValueKind(str(field_type))
        try:
            check_operator(kind, node.op, f"the custom field {key!r}")
        except InvalidValue as exc:
            self.problems.append(RuleProblem((*loc, "op"), exc.reason, "operator_not_allowed"))
            return false()
        try:
            value = parse_value(kind, node.op, node.value)
        except InvalidValue as exc:
            self.problems.append(RuleProblem((*loc, "value"), exc.reason, "invalid_value"))
            return false()
        return self.custom_value(key, kind, node.op, value)

    def custom_value(self, key: str, kind: ValueKind, op: Op, value: Any) -> ColumnElement[bool]:
        document = Contact.fields[key]
        text = document.astext
        if op in (Op.is_set, Op.is_not_set):
            is_set = func.coalesce(func.jsonb_typeof(document), "null") != "null"
            if kind in (ValueKind.text, ValueKind.choice):
                is_set = and_(is_set, text != "")
            return is_set if op is Op.is_set else _negate(is_set)
        if kind is ValueKind.number and op not in (Op.eq, Op.neq, Op.in_, Op.not_in):
            return self.number(document, op, value)
        if kind is ValueKind.date:
            return self.day(text, op, value)
        if op in (Op.eq, Op.neq, Op.in_, Op.not_in):
            # Containment (fields @> {"key": value}) is served by the GIN index on fields,
            # and only matches a stored value of the same JSON type.
            values = value if isinstance(value, list) else [value]
            contained = or_(*(Contact.fields.contains({key: v}) for v in values))
            return contained if op in (Op.eq, Op.in_) else not_(contained)
        if op is Op.not_contains:
            return _negate(_match(text, Op.contains, value, folded=False))
        return _match(text, op, value, folded=False)

    def number(self, document: ColumnElement[Any], op: Op, value: Any) -> ColumnElement[bool]:
        # Only JSON numbers are cast, so a stray string value can never fail the query.
        number = case(
            (func.jsonb_typeof(document) == "number", cast(document.astext, Numeric)),
            else_=None,
        )

        def bound(v: int | float) -> ColumnElement[Decimal]:
            return literal(Decimal(str(v)), Numeric())

        compare: dict[Op, Callable[[Any], ColumnElement[bool]]] = {
            Op.gt: lambda v: number > bound(v),
            Op.gte: lambda v: number >= bound(v),
            Op.lt: lambda v: number < bound(v),
            Op.lte: lambda v: number <= bound(v),
            Op.between: lambda v: number.between(bound(v[0]), bound(v[1])),
        }
        return compare[op](value)

    def day(self, text: ColumnElement[str], op: Op, value: Any) -> ColumnElement[bool]:
        """A custom date field: ISO days compare correctly as text under the C collation,
        and text never fails the way a cast of a malformed value would."""
        iso = collate(text, "C")

        def d(v: date) -> str:
            return v.isoformat()

        if op is Op.before:
            compared = iso < d(value)
        elif op is Op.after:
            compared = iso > d(value)
        elif op is Op.on:
            compared = iso == d(value)
        elif op is Op.between:
            compared = and_(iso >= d(value[0]), iso <= d(value[1]))
        elif op is Op.within_last_days:
            compared = and_(iso >= d(self.today - timedelta(days=value)), iso <= d(self.today))
        else:  # more_than_days_ago
            compared = iso < d(self.today - timedelta(days=value))
        return and_(text.regexp_match(_ISO_DAY), compared)

    # -- lists and engagement -------------------------------------------------------

    def membership(self, node: ListCondition) -> ColumnElement[bool]:
        conditions = [
            ListMembership.workspace_id == self.workspace_id,
            ListMembership.list_id == node.list_id,
            ListMembership.contact_id == Contact.id,
        ]
        if node.status is not None:
            conditions.append(ListMembership.status == node.status)
        member = exists().where(*conditions).correlate(Contact)
        return member if node.op == "in" else not_(member)

    def engagement(self, node: EventCondition) -> ColumnElement[bool]:
        if node.campaign_id is None:
            return self.engagement_with_any(node)
        conditions = [
            Event.workspace_id == self.workspace_id,
            Event.contact_id == Contact.id,
            Event.type == EVENT_TYPES[node.event],
            Event.campaign_id == node.campaign_id,
        ]
        if node.within_days is not None:
            # Both bounds, so only the partitions of the window are read; the upper one
            # a day ahead tolerates senders' clocks running fast.
            conditions += [
                Event.occurred_at >= self.now - timedelta(days=node.within_days),
                Event.occurred_at < self.now + _ONE_DAY,
            ]
        happened = exists().where(*conditions).correlate(Contact)
        return happened if node.op == "did" else not_(happened)

    def engagement_with_any(self, node: EventCondition) -> ColumnElement[bool]:
        """Engagement with any campaign, from the contact's own latest-engagement
        column (kept by the analytics service as the latest event of its type): one
        indexed comparison on the contact instead of a scan of every event in the
        window. Opened within N days is exactly: the last open is within N days."""
        latest = _LATEST[node.event]
        happened = (
            latest.is_not(None)
            if node.within_days is None
            else latest >= self.now - timedelta(days=node.within_days)
        )
        return happened if node.op == "did" else or_(latest.is_(None), not_(happened))


# The contact column holding the latest event of each engagement kind.
_LATEST = {
    "received": Contact.last_sent_at,
    "opened": Contact.last_open_at,
    "clicked": Contact.last_click_at,
}


def segment_predicate(
    workspace_id: uuid.UUID,
    rules: SegmentRules,
    fields: Mapping[str, CustomFieldType],
    *,
    now: datetime | None = None,
) -> ColumnElement[bool]:
    """A predicate over `Contact` true for the workspace's contacts the rules match.

    `fields` maps the workspace's custom field keys to their types. Relative dates count
    back from `now` (the current time by default). Raises InvalidRules, naming the path
    of each node that does not fit the workspace."""
    compiler = _Compiler(workspace_id, fields, now or datetime.now(UTC))
    predicate = compiler.node(rules.root, ())
    if compiler.problems:
        raise InvalidRules(compiler.problems)
    return and_(Contact.workspace_id == workspace_id, predicate)


async def load_segment_predicate(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    segment_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> ColumnElement[bool]:
    """The predicate of a saved segment. NotFound when the workspace has no such segment;
    SegmentOutOfDate (409) when it no longer fits the workspace's custom fields."""
    repository = SegmentRepository(session)
    segment = await repository.get(workspace_id, segment_id)
    if segment is None:
        raise NotFound("segment not found")
    try:
        rules = SegmentRules.model_validate(segment.rules)
    except ValidationError as exc:
        raise SegmentOutOfDate(
            "the segment's rules are no longer valid; edit the segment",
            details=validation_details([dict(e) for e in exc.errors()], ("rules",)),
        ) from exc
    fields = {
        key: spec.type for key, spec in (await repository.custom_fields(workspace_id)).items()
    }
    try:
        return segment_predicate(workspace_id, rules, fields, now=now)
    except InvalidRules as exc:
        raise SegmentOutOfDate(
            "the segment no longer fits this workspace's custom fields; edit the segment",
            details=problem_details(exc.problems, ("rules",)),
        ) from exc
