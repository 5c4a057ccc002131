"""Every rule kind and operator, compiled and run against PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from maily.contacts.fields import FieldType
from maily.kit.db import AsyncSession
from maily.segments.compiler import InvalidRules, segment_predicate
from maily.segments.rules import SegmentRules
from tests.segments.conftest import EVERYONE, NOW, Audience, matching


def day(days_ago: int) -> str:
    return (NOW - timedelta(days=days_ago)).date().isoformat()


def f(field: str, op: str, value: Any = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        rule["value"] = value
    return rule


def c(key: str, op: str, value: Any = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"custom_field": key, "op": op}
    if value is not None:
        rule["value"] = value
    return rule


STANDARD_CASES: list[tuple[dict[str, Any], set[str]]] = [
    # text, with email and domain compared case-insensitively (stored lower-cased)
    (f("email", "eq", "ANN@acme.com"), {"ann"}),
    (f("email", "neq", "ann@acme.com"), {"bob", "cat", "dan", "eve"}),
    (f("email", "in", ["ann@acme.com", "BOB@example.org", "zed@x.y"]), {"ann", "bob"}),
    (f("email", "not_in", ["ann@acme.com"]), {"bob", "cat", "dan", "eve"}),
    (f("email", "ends_with", "@ACME.com"), {"ann", "cat"}),
    (f("email", "starts_with", "an"), {"ann"}),
    (f("email", "contains", "acme"), {"ann", "cat", "dan"}),
    (f("email", "not_contains", "acme"), {"bob", "eve"}),
    (f("domain", "eq", "acme.com"), {"ann", "cat"}),
    (f("domain", "ends_with", "acme.com"), {"ann", "cat", "dan"}),
    (f("first_name", "eq", "dan"), {"dan"}),
    (f("first_name", "eq", "Dan"), set()),  # eq is exact
    (f("first_name", "contains", "A"), {"ann", "cat", "dan"}),  # patterns ignore case
    (f("first_name", "starts_with", "e"), {"eve"}),
    (f("last_name", "is_set"), {"ann", "cat", "dan", "eve"}),
    (f("last_name", "is_not_set"), {"bob"}),
    (f("last_name", "contains", "'"), {"cat"}),
    (f("timezone", "is_not_set"), {"bob", "dan"}),
    (f("timezone", "starts_with", "europe/"), {"ann", "eve"}),
    (f("timezone", "neq", "Europe/Paris"), {"bob", "cat", "dan", "eve"}),  # NULL is "not"
    (f("locale", "in", ["fr", "de"]), {"ann", "eve"}),
    (f("locale", "not_in", ["fr"]), {"bob", "cat", "dan", "eve"}),
    (f("locale", "ends_with", "-us"), {"cat"}),
    # choice-like standard fields
    (f("status", "eq", "subscribed"), {"ann", "dan"}),
    (f("status", "neq", "subscribed"), {"bob", "cat", "eve"}),
    (f("status", "in", ["bounced", "complained"]), {"cat", "eve"}),
    (f("status", "not_in", ["subscribed", "unsubscribed"]), {"cat", "eve"}),
    (f("source", "eq", "api"), {"ann", "eve"}),
    (f("source", "in", ["form", "admin"]), {"cat", "dan"}),
    # timestamps: relative and absolute
    (f("created_at", "within_last_days", 30), {"bob", "dan"}),
    (f("created_at", "more_than_days_ago", 30), {"ann", "cat", "eve"}),
    (f("created_at", "before", day(100)), {"ann", "eve"}),
    (f("created_at", "after", day(50)), {"bob", "cat", "dan"}),
    (f("created_at", "on", day(10)), {"bob"}),
    (f("created_at", "between", [day(45), day(5)]), {"bob", "cat"}),
    (f("created_at", "after", (NOW - timedelta(days=5)).isoformat()), {"dan"}),
    (f("created_at", "before", (NOW - timedelta(days=39)).isoformat()), {"ann", "cat", "eve"}),
    (
        f(
            "created_at",
            "between",
            [(NOW - timedelta(days=11)).isoformat(), (NOW - timedelta(days=9)).isoformat()],
        ),
        {"bob"},
    ),
    (f("updated_at", "within_last_days", 2), {"dan"}),
    # tags (case-sensitive, like the stored tags)
    (f("tags", "has", "vip"), {"ann", "dan"}),
    (f("tags", "has", "Vip"), {"eve"}),
    (f("tags", "has_any", ["vip", "beta"]), {"ann", "bob", "dan"}),
    (f("tags", "has_all", ["vip", "beta"]), {"ann"}),
    (f("tags", "has_none", ["vip"]), {"bob", "cat", "eve"}),
    (f("tags", "has_none", ["vip", "beta", "Vip"]), {"cat"}),
]

CUSTOM_CASES: list[tuple[dict[str, Any], set[str]]] = [
    # choice
    (c("plan", "eq", "pro"), {"ann"}),
    (c("plan", "neq", "pro"), {"bob", "cat", "dan", "eve"}),
    (c("plan", "in", ["pro", "team"]), {"ann", "cat"}),
    (c("plan", "not_in", ["free"]), {"ann", "cat", "dan", "eve"}),
    (c("plan", "is_set"), {"ann", "bob", "cat"}),
    (c("plan", "is_not_set"), {"dan", "eve"}),
    # number: cat's "old" is not a number and is simply not matched
    (c("age", "gt", 30), {"ann", "eve"}),
    (c("age", "gte", 34), {"ann", "eve"}),
    (c("age", "lt", 34), {"bob"}),
    (c("age", "lte", 34), {"ann", "bob"}),
    (c("age", "between", [18, 40]), {"ann", "bob"}),
    (c("age", "eq", 34), {"ann"}),
    (c("age", "eq", 34.0), {"ann"}),
    (c("age", "in", [19, 60]), {"bob", "eve"}),
    (c("age", "neq", 34), {"bob", "cat", "dan", "eve"}),
    (c("age", "is_set"), {"ann", "bob", "cat", "eve"}),
    (c("score", "gt", 7.25), {"ann", "eve"}),
    (c("score", "lt", 1e300), {"ann", "eve"}),
    (c("score", "gte", -(10**40)), {"ann", "eve"}),
    # date: cat's malformed "1999-02-30x" is never compared
    (c("birthday", "before", "2000-01-01"), {"ann"}),
    (c("birthday", "after", "2000-01-01"), {"bob"}),
    (c("birthday", "on", "1990-05-01"), {"ann"}),
    (c("birthday", "between", ["1980-01-01", "2005-12-24"]), {"ann", "bob"}),
    (c("birthday", "is_set"), {"ann", "bob", "cat"}),
    (c("renewal", "within_last_days", 7), {"bob"}),
    (c("renewal", "more_than_days_ago", 30), {"dan"}),
    (c("renewal", "after", day(0)), {"ann"}),
    (c("renewal", "is_not_set"), {"cat", "eve"}),
    # boolean
    (c("newsletter", "eq", True), {"ann", "eve"}),
    (c("newsletter", "eq", False), {"bob"}),
    (c("newsletter", "is_not_set"), {"cat", "dan"}),
    # text: eq exact, patterns ignore case, LIKE wildcards in values are literal
    (c("city", "eq", "Paris"), {"ann"}),
    (c("city", "in", ["Paris", "paris"]), {"ann", "eve"}),
    (c("city", "neq", "Paris"), {"bob", "cat", "dan", "eve"}),
    (c("city", "contains", "PAR"), {"ann", "eve"}),
    (c("city", "not_contains", "par"), {"bob", "cat", "dan"}),
    (c("city", "starts_with", "berlin_"), {"bob"}),
    (c("city", "ends_with", "%"), {"bob"}),
    (c("city", "contains", "n_1"), {"bob"}),
    (c("city", "contains", "_"), {"bob"}),
    (c("city", "is_set"), {"ann", "bob", "eve"}),  # "" counts as unset
    (c("city", "is_not_set"), {"cat", "dan"}),
]


@pytest.mark.parametrize(("rule", "expected"), STANDARD_CASES + CUSTOM_CASES)
async def test_condition(
    session: AsyncSession, audience: Audience, rule: dict[str, Any], expected: set[str]
) -> None:
    assert await matching(session, audience.a.id, rule) == expected
    # The same rule in the look-alike workspace finds its own, identical contacts.
    assert await matching(session, audience.b.id, rule) == expected


async def test_list_membership(session: AsyncSession, audience: Audience) -> None:
    newsletter, empty = audience.a.lists["newsletter"], audience.a.lists["empty"]
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"list": str(newsletter)}, {"ann", "bob", "cat"}),
        ({"list": str(newsletter), "op": "in", "status": "subscribed"}, {"ann"}),
        ({"list": str(newsletter), "status": "unconfirmed"}, {"cat"}),
        ({"list": str(newsletter), "op": "not_in"}, {"dan", "eve"}),
        (
            {"list": str(newsletter), "op": "not_in", "status": "subscribed"},
            {"bob", "cat", "dan", "eve"},
        ),
        ({"list": str(empty)}, set()),
        ({"list": str(empty), "op": "not_in"}, set(EVERYONE)),
        # Another workspace's list never matches here, even though it has members.
        ({"list": str(audience.b.lists["newsletter"])}, set()),
    ]
    for rule, expected in cases:
        assert await matching(session, audience.a.id, rule) == expected, rule


async def test_engagement(session: AsyncSession, audience: Audience) -> None:
    spring, winter = str(audience.campaigns["spring"]), str(audience.campaigns["winter"])
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"event": "received"}, {"ann", "bob", "cat", "eve"}),
        ({"event": "received", "within_days": 7}, {"ann", "bob", "eve"}),
        ({"event": "received", "campaign_id": spring}, {"ann", "bob", "eve"}),
        ({"event": "received", "campaign_id": winter}, {"cat"}),
        ({"event": "received", "op": "did_not", "within_days": 30}, {"cat", "dan"}),
        ({"event": "opened"}, {"ann", "bob", "eve"}),  # eve's opens include the default partition
        ({"event": "opened", "within_days": 30}, {"ann"}),
        ({"event": "opened", "within_days": 90}, {"ann", "bob"}),
        ({"event": "opened", "within_days": 500}, {"ann", "bob", "eve"}),
        ({"event": "opened", "op": "did_not"}, {"cat", "dan"}),  # never opened
        ({"event": "opened", "op": "did_not", "within_days": 30}, {"bob", "cat", "dan", "eve"}),
        ({"event": "opened", "campaign_id": winter}, {"bob", "eve"}),
        ({"event": "opened", "campaign_id": winter, "within_days": 90}, {"bob"}),
        ({"event": "clicked"}, {"ann"}),
        ({"event": "clicked", "campaign_id": spring, "within_days": 7}, {"ann"}),
        ({"event": "clicked", "campaign_id": winter}, set()),
    ]
    for rule, expected in cases:
        assert await matching(session, audience.a.id, rule) == expected, rule
        assert await matching(session, audience.b.id, rule) == expected, rule


async def test_nesting(session: AsyncSession, audience: Audience) -> None:
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"all": []}, set(EVERYONE)),
        ({"any": []}, set()),
        ({"any": [{"all": []}]}, set(EVERYONE)),
        (
            {
                "all": [
                    f("status", "eq", "subscribed"),
                    {"any": [f("tags", "has", "vip"), c("plan", "eq", "free")]},
                ]
            },
            {"ann", "dan"},
        ),
        (
            {
                "any": [
                    {
                        "all": [
                            f("domain", "eq", "acme.com"),
                            {"event": "opened", "within_days": 30},
                        ]
                    },
                    {"all": [f("status", "eq", "complained")]},
                ]
            },
            {"ann", "eve"},
        ),
        (
            {
                "all": [
                    {"any": [c("age", "gt", 50), c("plan", "eq", "pro")]},
                    {"any": [{"event": "opened", "op": "did_not"}, f("tags", "has", "vip")]},
                ]
            },
            {"ann"},
        ),
        # the deepest nesting allowed
        (
            {
                "all": [
                    {
                        "any": [
                            {
                                "all": [
                                    {"any": [{"all": [{"any": [f("email", "starts_with", "b")]}]}]}
                                ]
                            }
                        ]
                    }
                ]
            },
            {"bob"},
        ),
    ]
    for rule, expected in cases:
        assert await matching(session, audience.a.id, rule) == expected, rule


async def test_rules_that_do_not_fit_the_workspace_name_their_paths(audience: Audience) -> None:
    rules = SegmentRules.model_validate(
        {
            "all": [
                c("nope", "eq", "x"),
                {
                    "any": [
                        c("age", "contains", "3"),
                        c("age", "eq", "34"),
                        c("birthday", "between", [1, 2]),
                        c("newsletter", "eq", "yes"),
                    ]
                },
            ]
        }
    )
    fields = {"age": FieldType.number, "birthday": FieldType.date, "newsletter": FieldType.boolean}
    with pytest.raises(InvalidRules) as caught:
        segment_predicate(audience.a.id, rules, fields)
    found = {p.loc: p.type for p in caught.value.problems}
    assert found == {
        ("all", 0, "custom_field"): "unknown_custom_field",
        ("all", 1, "any", 0, "op"): "operator_not_allowed",
        ("all", 1, "any", 1, "value"): "invalid_value",
        ("all", 1, "any", 2, "value"): "invalid_value",
        ("all", 1, "any", 3, "value"): "invalid_value",
    }


async def test_predicate_is_scoped_even_when_embedded(
    session: AsyncSession, audience: Audience
) -> None:
    """The predicate carries its workspace: used alone, it never matches another's rows."""
    everyone = await matching(session, audience.a.id, {"all": []}, fields={})
    assert everyone == set(EVERYONE)
