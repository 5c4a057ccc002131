"""Property tests: any valid rule tree compiles, runs, and stays inside its workspace."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maily.kit.db import AsyncSession
from maily.segments.compiler import segment_predicate
from maily.segments.repository import SegmentRepository
from maily.segments.rules import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_YEAR,
    MIN_YEAR,
    OPERATORS,
    STANDARD_CHOICES,
    STANDARD_FIELDS,
    Op,
    SegmentRules,
    ValueKind,
)
from tests.segments.conftest import CONTACTS, EVERYONE, FIELDS, Audience, matching

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    # The audience is read, never written, so sharing it between examples is safe.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values that exercise escaping, case and the stored data, mixed with arbitrary text.
SAMPLES = ["acme", "ACME.com", "ann", "Paris", "%", "_", "\\", "'", "vip", "Vip", "beta", ""]
texts = st.one_of(
    st.sampled_from(SAMPLES),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12),
)
tags = st.one_of(st.sampled_from(["vip", "Vip", "beta", "x_%"]), texts.filter(bool))
numbers = st.one_of(
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 19, 34, 34.0, 60, 7.5]),
)
days = st.dates(date(MIN_YEAR, 1, 1), date(MAX_YEAR, 12, 31))
offsets = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
moments = st.one_of(
    days.map(date.isoformat),
    st.datetimes(datetime(MIN_YEAR, 1, 2), datetime(MAX_YEAR, 12, 30), timezones=offsets).map(
        datetime.isoformat
    ),
    st.integers(-3000, 3000).map(lambda n: (datetime.now(UTC) + timedelta(days=n)).isoformat()),
)


def scalars(kind: ValueKind, choices: tuple[str, ...]) -> st.SearchStrategy[Any]:
    if kind is ValueKind.number:
        return numbers
    if kind is ValueKind.boolean:
        return st.booleans()
    if kind is ValueKind.date:
        return days.map(date.isoformat)
    if kind is ValueKind.timestamp:
        return moments
    if kind is ValueKind.choice and choices:
        return st.sampled_from(choices)
    return texts


def between(kind: ValueKind) -> st.SearchStrategy[list[Any]]:
    if kind is ValueKind.number:
        return st.lists(numbers, min_size=2, max_size=2).map(sorted)
    return st.lists(days, min_size=2, max_size=2).map(
        lambda ds: [d.isoformat() for d in sorted(ds)]
    )


def values(kind: ValueKind, op: Op, choices: tuple[str, ...]) -> st.SearchStrategy[Any]:
    if op in (Op.is_set, Op.is_not_set):
        return st.none()
    if op in (Op.within_last_days, Op.more_than_days_ago):
        return st.integers(0, 36_500)
    if op is Op.has:
        return tags
    if op in (Op.has_any, Op.has_all, Op.has_none):
        return st.lists(tags, min_size=1, max_size=4)
    if op in (Op.in_, Op.not_in):
        return st.lists(scalars(kind, choices), min_size=1, max_size=4)
    if op is Op.between:
        return between(kind)
    if op in (Op.contains, Op.not_contains, Op.starts_with, Op.ends_with):
        return texts.filter(bool)
    return scalars(kind, choices)


def condition(subject: dict[str, Any], kind: ValueKind, choices: tuple[str, ...]) -> Any:
    def build(op: Op) -> st.SearchStrategy[dict[str, Any]]:
        return values(kind, op, choices).map(
            lambda v: {**subject, "op": op.value} | ({} if v is None else {"value": v})
        )

    return st.sampled_from(OPERATORS[kind]).flatmap(build)


def standard_conditions() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        [
            condition({"field": name}, kind, STANDARD_CHOICES.get(name, ()))
            for name, kind in STANDARD_FIELDS.items()
        ]
    )


def custom_conditions() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        [
            condition({"custom_field": key}, ValueKind(str(type_)), choices)
            for key, (type_, choices) in FIELDS.items()
        ]
    )


def list_conditions(list_ids: list[uuid.UUID]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"list": st.sampled_from([*map(str, list_ids), str(uuid.uuid4())])},
        optional={
            "op": st.sampled_from(["in", "not_in"]),
            "status": st.sampled_from(["subscribed", "unconfirmed", "unsubscribed", None]),
        },
    )


def event_conditions(campaigns: list[uuid.UUID]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"event": st.sampled_from(["received", "opened", "clicked"])},
        optional={
            "op": st.sampled_from(["did", "did_not"]),
            "campaign_id": st.sampled_from([*map(str, campaigns), None]),
            "within_days": st.one_of(st.none(), st.integers(1, 36_500)),
        },
    )


def trees(leaves: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Trees no deeper than the language allows."""

    def node(depth: int) -> st.SearchStrategy[dict[str, Any]]:
        children = node(depth + 1) if depth < MAX_DEPTH else leaves
        groups = st.builds(
            lambda key, items: {key: items},
            st.sampled_from(["all", "any"]),
            st.lists(children, max_size=3),
        )
        return st.one_of(leaves, groups)

    return node(1)


def count_nodes(tree: Any) -> int:
    return 1 + sum(count_nodes(c) for key in ("all", "any") for c in tree.get(key, []))


def has_list_rule(tree: Any) -> bool:
    return "list" in tree or any(has_list_rule(c) for k in ("all", "any") for c in tree.get(k, []))


@st.composite
def rule_trees(draw: st.DrawFn, audience: Audience) -> dict[str, Any]:
    leaves = st.one_of(
        standard_conditions(),
        custom_conditions(),
        list_conditions([*audience.a.lists.values(), *audience.b.lists.values()]),
        event_conditions(list(audience.campaigns.values())),
    )
    tree = draw(trees(leaves).filter(lambda t: count_nodes(t) <= MAX_NODES))
    return tree


@PROPERTY_SETTINGS
@given(data=st.data())
async def test_random_rule_trees_run_and_stay_in_their_workspace(
    session: AsyncSession, audience: Audience, data: st.DataObject
) -> None:
    tree = data.draw(rule_trees(audience))
    rules = SegmentRules.model_validate(tree)
    # The stored form reads back as the same rules.
    assert SegmentRules.model_validate(rules.to_json()) == rules

    found = await matching(session, audience.a.id, rules)  # asserts no row of B
    assert found <= EVERYONE
    if not has_list_rule(tree):
        # B holds the same contacts and engagement: the same rules find the same people.
        assert await matching(session, audience.b.id, rules) == found

    predicate = segment_predicate(audience.a.id, rules, {k: t for k, (t, _) in FIELDS.items()})
    total, sendable = await SegmentRepository(session).count(audience.a.id, predicate)
    assert total == len(found)
    assert sendable == len(
        found & {n for n, c in CONTACTS.items() if c["status"] == "subscribed"} - {"dan"}
    )


COMPLEMENTS = {
    "eq": "neq",
    "in": "not_in",
    "contains": "not_contains",
    "is_set": "is_not_set",
    "has_any": "has_none",
    "did": "did_not",
}
COMPLEMENTS |= {v: k for k, v in COMPLEMENTS.items()}


@PROPERTY_SETTINGS
@given(data=st.data())
async def test_negated_operators_match_exactly_the_others(
    session: AsyncSession, audience: Audience, data: st.DataObject
) -> None:
    leaves = st.one_of(
        standard_conditions(),
        custom_conditions(),
        list_conditions(list(audience.a.lists.values())),
        event_conditions(list(audience.campaigns.values())),
    )
    rule = data.draw(
        leaves.filter(lambda r: r.get("op", "in" if "list" in r else "did") in COMPLEMENTS)
    )
    default = "in" if "list" in rule else "did" if "event" in rule else None
    negated = rule | {"op": COMPLEMENTS[rule.get("op", default)]}
    if negated["op"] not in {o.value for o in Op} | {"in", "not_in", "did", "did_not"}:
        return
    try:
        SegmentRules.model_validate(negated)
    except ValueError:
        return  # e.g. no neq for booleans
    matched = await matching(session, audience.a.id, rule)
    others = await matching(session, audience.a.id, negated)
    assert matched.isdisjoint(others)
    assert matched | others == EVERYONE
