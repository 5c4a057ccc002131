"""Drafting a campaign from a brief in the agent mesh itself (no API, no gRPC; the whole
path is tests/ai/test_draft_end_to_end.py): coordinator → specialists → writer ↔ critic
loop → a validated template, with the progress events in order."""

from __future__ import annotations

import threading
import uuid

from redis.asyncio import Redis

from maily.ai import contracts
from maily.ai.mesh import TaskMemory, run_task
from tests.ai.fakes import FakeOpenAI
from tests.ai.mesh.support import (
    BODY,
    BRAND,
    BRIEF,
    FOOTER,
    FOOTER_WITHOUT_ADDRESS,
    GOOD_MJML,
    INSIGHTS,
    NO_CRITIQUE,
    ON_VOICE,
    WORKSPACE,
    Router,
    StaticResults,
    SummingUsageSink,
    collect,
    deps_for,
    draft,
    mjml,
    plan,
    steps,
    subjects,
)
from tests.ai.mesh.support import PAST as PAST_RESULTS


def draft_task(**kw: object) -> contracts.DraftCampaignTask:
    return contracts.DraftCampaignTask(
        workspace_id=WORKSPACE,
        task_id=uuid.uuid4(),
        brand=BRAND,
        brief=BRIEF,
        subject_variants=3,
        **kw,  # type: ignore[arg-type]
    )


async def test_draft_from_a_brief_revises_until_the_checks_pass(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    router = Router(
        fake_openai,
        coordinator=[
            plan(
                "performance_analyst",
                "subject_line_specialist",
                "copywriter",
                "brand_voice",
                "compliance_critic",
                "deliverability_analyst",
            )
        ],
        performance_analyst=[INSIGHTS],
        subject_line_specialist=[
            subjects("Three autumn teas are here", "Smoky, bright, citrusy", "New tins for autumn")
        ],
        # the first draft forgets the postal address; the revision has it
        copywriter=[draft(mjml(BODY, FOOTER_WITHOUT_ADDRESS)), draft(GOOD_MJML)],
        compliance_critic=[NO_CRITIQUE],
        brand_voice=[ON_VOICE],
    )
    results = StaticResults(PAST_RESULTS)
    usage = SummingUsageSink()
    task = draft_task()
    events = await collect(task, deps_for(fake_openai, redis, results, usage=usage))

    assert steps(events) == [
        ("started", ""),
        ("agent_started", "coordinator"),
        ("plan", "coordinator"),
        ("agent_started", "performance_analyst"),
        ("agent_output", "performance_analyst"),
        ("agent_started", "subject_line_specialist"),
        ("agent_output", "subject_line_specialist"),
        ("agent_started", "copywriter"),
        ("agent_output", "copywriter"),
        ("agent_started", "deliverability_analyst"),
        ("agent_output", "deliverability_analyst"),
        ("check", "compliance_critic"),
        ("revision", "copywriter"),
        ("agent_started", "copywriter"),
        ("agent_output", "copywriter"),
        ("agent_started", "deliverability_analyst"),
        ("agent_output", "deliverability_analyst"),
        ("agent_started", "compliance_critic"),
        ("agent_output", "compliance_critic"),
        ("agent_started", "brand_voice"),
        ("agent_output", "brand_voice"),
        ("check", "compliance_critic"),
        ("result", ""),
    ]
    assert router.calls == [
        "coordinator",
        "performance_analyst",
        "subject_line_specialist",
        "copywriter",
        "copywriter",
        "compliance_critic",
        "brand_voice",
    ]
    plan_event = next(e for e in events if e.kind == "plan")
    assert plan_event.data is not None
    assert [s["agent"] for s in plan_event.data["steps"]] == [  # type: ignore[index, union-attr]
        "performance_analyst",
        "subject_line_specialist",
        "copywriter",
        "brand_voice",
        "compliance_critic",
        "deliverability_analyst",
    ]
    first_check, last_check = [e for e in events if e.kind == "check"]
    assert first_check.data is not None
    assert first_check.data["passed"] is False
    failed = {f["check"] for f in first_check.data["findings"]}  # type: ignore[union-attr]
    assert failed == {"postal_address"}
    revision = next(e for e in events if e.kind == "revision")
    assert "postal_address" in str(revision.data)
    assert last_check.data is not None
    assert last_check.data["passed"] is True

    result = contracts.CampaignDraft.model_validate(events[-1].data)
    assert result.checks.passed
    assert result.iterations == 2
    assert not result.budget_exhausted
    assert result.mjml == GOOD_MJML
    assert next(s.text for s in result.subject_lines) == "Three autumn teas are here"
    assert result.preheader == "About three autumn teas are here"
    assert "12 Leaf Street, Teatown, TT1 2AB" in result.html  # rendered with the brand's address
    assert "Jane" in result.html  # sample contact
    assert "https://shop.acmetea.example/autumn" in result.html
    assert "<script" not in result.html
    assert "autumn blends" in result.text

    # the revision request carried the first draft and the finding, as data
    revise_request = fake_openai.requests[4]
    assert "previous_draft" in revise_request.user_text
    assert "postal address" in revise_request.user_text
    # the subject-line specialist and the copywriter were given the past results' insights
    for request in (fake_openai.requests[2], fake_openai.requests[3]):
        assert "Specific subjects with a product name open best." in request.user_text
    assert "Iced teas for hot days" in fake_openai.requests[1].user_text
    assert results.asked == [WORKSPACE]

    # every agent run was recorded, and the result's usage is their sum
    assert len(usage.runs) == 7
    assert {run[0] for run in usage.runs} == {WORKSPACE}
    assert result.usage.requests == 7
    assert result.usage.input_tokens + result.usage.output_tokens == sum(r[2] for r in usage.runs)
    assert result.usage.models == ["openai:fake-model"]

    # the task's memory holds what the agents shared
    memory = TaskMemory(redis, task.task_id)
    assert (await memory.get("brief"))["brief"] == BRIEF
    assert (await memory.get("plan"))["steps"][0]["agent"] == "performance_analyst"
    assert (await memory.output("copywriter"))["mjml"] == GOOD_MJML
    assert await memory.iterations() == 2
    rounds = await memory.findings()
    assert [f["check"] for f in rounds[0]] == ["postal_address"]
    assert rounds[1] == []
    tokens, runs = await memory.spent()
    assert runs == 7
    assert tokens == sum(r[2] for r in usage.runs)
    for key in await memory.keys():
        assert key.startswith(f"maily:ai:task:{task.task_id}:")
        assert 0 < await redis.ttl(key) <= 24 * 3600


async def test_spam_phrase_in_the_first_draft_is_revised_away(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    spammy = BODY.replace("Each tin is packed", "Act now, it is 100% free! Each tin is packed")
    Router(
        fake_openai,
        coordinator=[plan("copywriter")],
        subject_line_specialist=[subjects("Three autumn teas are here")],
        copywriter=[draft(mjml(spammy, FOOTER)), draft(GOOD_MJML)],
        compliance_critic=[NO_CRITIQUE],
        brand_voice=[ON_VOICE],
    )
    events = await collect(draft_task(), deps_for(fake_openai, redis))
    checks = [e for e in events if e.kind == "check"]
    assert len(checks) == 2
    first = {f["check"] for f in checks[0].data["findings"]}  # type: ignore[index, union-attr]
    assert "spam_phrase" in first
    result = contracts.CampaignDraft.model_validate(events[-1].data)
    assert result.checks.passed
    assert result.iterations == 2


async def test_a_draft_that_does_not_compile_goes_back_with_the_compiler_error(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    router = Router(
        fake_openai,
        coordinator=[plan()],
        subject_line_specialist=[subjects("Three autumn teas are here")],
        copywriter=[draft("<mjml><mj-body><mj-section><mj-text>unclosed"), draft(GOOD_MJML)],
        compliance_critic=[NO_CRITIQUE],
        brand_voice=[ON_VOICE],
    )
    events = await collect(draft_task(), deps_for(fake_openai, redis))
    first = next(e for e in events if e.kind == "check")
    findings = first.data["findings"]  # type: ignore[index]
    assert [f["check"] for f in findings] == ["compile"]  # type: ignore[index, union-attr]
    assert "is not valid MJML" in findings[0]["message"]  # type: ignore[index]
    revise_request = fake_openai.requests[router.calls.index("copywriter") + 1]
    assert "is not valid MJML" in revise_request.user_text
    result = contracts.CampaignDraft.model_validate(events[-1].data)
    assert result.checks.passed
    assert result.iterations == 2


async def test_events_stream_while_the_task_runs(fake_openai: FakeOpenAI, redis: Redis) -> None:
    """The copywriter's answer is held back until the test has seen the events before it:
    progress reaches the caller while agents are still working."""
    router = Router(
        fake_openai,
        coordinator=[plan()],
        subject_line_specialist=[subjects("Three autumn teas are here")],
        copywriter=[draft(GOOD_MJML)],
        compliance_critic=[NO_CRITIQUE],
    )
    release = threading.Event()
    router.hold("copywriter", until=release, timeout=30)
    seen: list[tuple[str, str]] = []
    async for event in run_task(draft_task(), deps_for(fake_openai, redis)):
        seen.append((event.kind, event.agent))
        if (event.kind, event.agent) == ("agent_started", "copywriter"):
            assert ("plan", "coordinator") in seen
            assert not release.is_set()
            release.set()
    assert seen[-1] == ("result", "")
    assert release.is_set()
