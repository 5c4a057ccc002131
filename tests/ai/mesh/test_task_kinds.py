"""Each task kind end to end over HTTP: revise (rewrite, shorten, translate, tone),
subject lines and personalisation."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from maily.ai import contracts
from tests.ai.fakes import FakeOpenAI, Structured
from tests.ai.mesh.support import (
    BRAND,
    GOOD_MJML,
    INSIGHTS,
    NO_CRITIQUE,
    ON_VOICE,
    WORKSPACE,
    Router,
    StaticResults,
    collect,
    deps_for,
    draft,
    kinds,
    plan,
    steps,
    subjects,
)

ORIGINAL = GOOD_MJML.replace(
    "Each tin is packed", "Your plan {{ contact.fields.plan }} ships. Each tin is packed"
)


def ids() -> dict[str, uuid.UUID]:
    return {"workspace_id": WORKSPACE, "task_id": uuid.uuid4()}


@pytest.mark.parametrize(
    ("mode", "extra", "expected"),
    [
        ("rewrite", {}, "Rewrite the email template"),
        ("shorten", {}, "Shorten the email template"),
        ("translate", {"target_language": "de"}, "Translate the email template"),
        ("tone", {"tone": "more playful"}, "in the tone the `request`"),
    ],
)
async def test_revise_template(
    fake_openai: FakeOpenAI, redis: Redis, mode: str, extra: dict[str, str], expected: str
) -> None:
    revised = ORIGINAL.replace("our autumn blends are in", "the autumn blends have landed")
    router = Router(
        fake_openai,
        coordinator=[
            plan("copywriter", "brand_voice", "compliance_critic", "subject_line_specialist")
        ],
        copywriter=[draft(revised, subject="The autumn blends have landed", notes="warmer")],
        compliance_critic=[NO_CRITIQUE],
        brand_voice=[ON_VOICE],
    )
    task = contracts.ReviseTemplateTask(
        **ids(),
        brand=BRAND,
        mode=mode,
        subject="Autumn teas",
        mjml=ORIGINAL,
        **extra,  # type: ignore[arg-type]
    )
    events = await collect(task, deps_for(fake_openai, redis))
    assert kinds(events)[-1] == "result", events[-1]
    # the subject-line specialist is not part of a revision, whatever the plan says
    assert router.calls == ["coordinator", "copywriter", "compliance_critic", "brand_voice"]
    result = contracts.RevisedTemplate.model_validate(events[-1].data)
    assert result.mjml == revised
    assert result.subject == "The autumn blends have landed"
    assert result.notes == "warmer"
    assert result.checks.passed
    assert "the autumn blends have landed" in result.text
    assert "Sample text ships" in result.text  # the original's custom field, sampled
    writer_request = fake_openai.requests[1]
    assert expected in writer_request.user_text
    assert ORIGINAL in writer_request.user_text
    for value in extra.values():
        assert f'"{value}"' in writer_request.user_text


async def test_revision_may_not_invent_merge_fields(fake_openai: FakeOpenAI, redis: Redis) -> None:
    invented = GOOD_MJML.replace("Hello", "Hello {{ contact.fields.loyalty_tier }}")
    Router(
        fake_openai,
        coordinator=[plan("copywriter")],
        copywriter=[draft(invented), draft(GOOD_MJML)],
        compliance_critic=[NO_CRITIQUE],
    )
    task = contracts.ReviseTemplateTask(**ids(), brand=BRAND, mode="rewrite", mjml=GOOD_MJML)
    events = await collect(task, deps_for(fake_openai, redis))
    first = next(e for e in events if e.kind == "check")
    assert "loyalty_tier" in str(first.data)
    assert first.data is not None
    assert first.data["passed"] is False
    result = contracts.RevisedTemplate.model_validate(events[-1].data)
    assert result.checks.passed
    assert result.mjml == GOOD_MJML


async def test_subject_lines(fake_openai: FakeOpenAI, redis: Redis) -> None:
    Router(
        fake_openai,
        coordinator=[plan("performance_analyst", "subject_line_specialist", "copywriter")],
        performance_analyst=[INSIGHTS],
        subject_line_specialist=[
            Structured(
                {
                    "items": [
                        {"text": "Smoky, bright, citrusy", "preheader": "Three teas", "score": 0.6},
                        {"text": "RE: your tea order", "preheader": "", "score": 0.99},
                        {"text": "{{ ''.__class__ }} tea", "preheader": "", "score": 0.98},
                        {"text": "Three autumn teas are here", "preheader": "New", "score": 0.8},
                        {"text": "Hi {{ contact.first_name }}, tea", "preheader": "", "score": 0.7},
                    ]
                }
            )
        ],
    )
    task = contracts.SubjectLinesTask(**ids(), brand=BRAND, brief="autumn teas", count=3)
    events = await collect(task, deps_for(fake_openai, redis))
    assert [s for s in steps(events) if s[0] != "check"] == [
        ("started", ""),
        ("agent_started", "coordinator"),
        ("plan", "coordinator"),
        ("agent_started", "performance_analyst"),
        ("agent_output", "performance_analyst"),
        ("agent_started", "subject_line_specialist"),
        ("agent_output", "subject_line_specialist"),
        ("result", ""),
    ]
    result = contracts.SubjectLineSuggestions.model_validate(events[-1].data)
    assert [s.text for s in result.items] == [
        "Three autumn teas are here",
        "Hi {{ contact.first_name }}, tea",
        "Smoky, bright, citrusy",
    ]
    refused = next(e for e in events if e.kind == "check")
    assert "subject_misleading" in str(refused.data)
    assert "template_code" in str(refused.data)
    assert result.usage.requests == 3


async def test_subject_lines_without_past_results_skip_the_analyst_model(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    router = Router(
        fake_openai,
        coordinator=[plan("performance_analyst")],
        subject_line_specialist=[subjects("Three autumn teas are here")],
    )
    task = contracts.SubjectLinesTask(**ids(), brief="autumn teas", count=1)
    events = await collect(task, deps_for(fake_openai, redis, StaticResults([])))
    assert router.calls == ["coordinator", "subject_line_specialist"]
    analyst = next(e for e in events if e.agent == "performance_analyst")
    assert "no sent campaigns" in analyst.message
    assert kinds(events)[-1] == "result"


async def test_personalisation(fake_openai: FakeOpenAI, redis: Redis) -> None:
    Router(
        fake_openai,
        coordinator=[plan("personalisation")],
        personalisation=[
            Structured(
                {
                    "items": [
                        {
                            "where": "Hello there",
                            "field": "first_name",
                            "suggestion": "Greet by name",
                            "example": 'Hello {{ contact.first_name | default("there") }}',
                        },
                        {
                            "where": "our autumn blends",
                            "field": "favourite_tea",
                            "suggestion": "Name their favourite",
                            "example": "Your {{ contact.fields.favourite_tea }} is back",
                        },
                        {"where": "x", "field": "password", "suggestion": "Show it"},
                        {
                            "where": "y",
                            "field": "first_name",
                            "suggestion": "Loop",
                            "example": "{% for c in contact %}{{ c }}{% endfor %}",
                        },
                    ]
                }
            )
        ],
    )
    task = contracts.PersonalisationTask(**ids(), mjml=GOOD_MJML, fields=["favourite_tea"])
    events = await collect(task, deps_for(fake_openai, redis))
    result = contracts.PersonalisationSuggestions.model_validate(events[-1].data)
    assert [(s.field, s.where) for s in result.items] == [
        ("first_name", "Hello there"),
        ("favourite_tea", "our autumn blends"),
    ]
    refused = next(e for e in events if e.kind == "check")
    assert "password" in str(refused.data)
    assert "for" in str(refused.data)
    request = fake_openai.requests[1]
    assert "favourite_tea" in request.user_text


async def test_refused_subject_lines_are_asked_for_again_once(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    router = Router(
        fake_openai,
        coordinator=[plan()],
        subject_line_specialist=[
            subjects("Three autumn teas are here", "FWD: autumn teas"),
            subjects("Smoky, bright, citrusy", "RE: still misleading"),
        ],
    )
    task = contracts.SubjectLinesTask(**ids(), brief="autumn teas", count=3)
    events = await collect(task, deps_for(fake_openai, redis))
    assert router.calls == ["coordinator", "subject_line_specialist", "subject_line_specialist"]
    second = fake_openai.requests[2]
    assert "FWD: autumn teas" in second.user_text  # the problems, as data
    result = contracts.SubjectLineSuggestions.model_validate(events[-1].data)
    assert [s.text for s in result.items] == [
        "Three autumn teas are here",
        "Smoky, bright, citrusy",
    ]
