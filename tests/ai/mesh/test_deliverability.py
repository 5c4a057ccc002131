"""The deliverability analyst: SpamAssassin's verdict (through the SpamChecker seam)
and the link and image checks, inside the writer ↔ critic loop."""

from __future__ import annotations

import uuid
from email import message_from_bytes, policy

from redis.asyncio import Redis

from maily.ai import contracts
from tests.ai.fakes import FakeOpenAI
from tests.ai.mesh.support import (
    BRAND,
    BRIEF,
    GOOD_MJML,
    NO_CRITIQUE,
    WORKSPACE,
    Router,
    collect,
    deps_for,
    draft,
    plan,
    subjects,
)


class KeywordSpamChecker:
    """A SpamChecker that scores a message by a keyword in its HTML part, and keeps
    every message it was given."""

    def __init__(self, keyword: str) -> None:
        self.keyword = keyword
        self.messages: list[bytes] = []

    async def check(self, message: bytes) -> contracts.SpamReport:
        self.messages.append(message)
        parsed = message_from_bytes(message, policy=policy.default)
        html = parsed.get_body(("html",))
        assert html is not None
        hit = self.keyword in html.get_content()
        return contracts.SpamReport(
            score=7.5 if hit else 0.4,
            threshold=5.0,
            is_spam=hit,
            rules=[contracts.SpamRule(name="FAKE_KEYWORD", score=7.1)] if hit else [],
        )


class DownSpamChecker:
    async def check(self, message: bytes) -> contracts.SpamReport:
        raise contracts.SpamCheckUnavailable("spamd refused the connection")


def task() -> contracts.DraftCampaignTask:
    return contracts.DraftCampaignTask(
        workspace_id=WORKSPACE, task_id=uuid.uuid4(), brand=BRAND, brief=BRIEF, subject_variants=1
    )


async def test_a_draft_spamassassin_calls_spam_is_revised(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    spammy = GOOD_MJML.replace("Each tin is packed", "Lapsang lapsang lapsang. Each tin is packed")
    Router(
        fake_openai,
        coordinator=[plan("copywriter", "deliverability_analyst")],
        subject_line_specialist=[subjects("Three autumn teas are here")],
        copywriter=[draft(spammy), draft(GOOD_MJML)],
        compliance_critic=[NO_CRITIQUE],
    )
    spam = KeywordSpamChecker("Lapsang lapsang")
    events = await collect(task(), deps_for(fake_openai, redis, spam=spam))
    analyst = [
        e for e in events if e.agent == "deliverability_analyst" and e.kind == "agent_output"
    ]
    assert len(analyst) == 2
    assert analyst[0].data is not None
    assert analyst[0].data["spam"]["is_spam"] is True
    first = next(e for e in events if e.kind == "check")
    assert "spam_score" in str(first.data)
    assert "FAKE_KEYWORD" in str(first.data)
    result = contracts.CampaignDraft.model_validate(events[-1].data)
    assert result.checks.passed
    assert result.checks.spam is not None
    assert result.checks.spam.score == 0.4
    # SpamAssassin saw the whole message as it would be sent
    sent = message_from_bytes(spam.messages[-1], policy=policy.default)
    assert sent["Subject"] == "Three autumn teas are here"
    assert sent["From"] == "Acme Tea <news@acmetea.example>"
    assert sent.get_body(("plain",)) is not None


async def test_spamassassin_down_is_a_warning_not_a_failure(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    Router(
        fake_openai,
        coordinator=[plan("copywriter", "deliverability_analyst")],
        subject_line_specialist=[subjects("Three autumn teas are here")],
        copywriter=[draft(GOOD_MJML)],
        compliance_critic=[NO_CRITIQUE],
    )
    events = await collect(task(), deps_for(fake_openai, redis, spam=DownSpamChecker()))
    result = contracts.CampaignDraft.model_validate(events[-1].data)
    assert result.checks.passed
    assert result.checks.spam is None
    warning = next(f for f in result.checks.findings if f.check == "spam_score")
    assert warning.severity == "warning"
    assert "spamd refused the connection" in warning.message


async def test_link_and_image_findings_are_the_analysts(
    fake_openai: FakeOpenAI, redis: Redis
) -> None:
    insecure = GOOD_MJML.replace(
        "https://shop.acmetea.example/autumn", "http://shop.acmetea.example/autumn"
    )
    Router(
        fake_openai,
        coordinator=[plan("copywriter", "deliverability_analyst")],
        subject_line_specialist=[subjects("Three autumn teas are here")],
        copywriter=[draft(insecure)],
        compliance_critic=[NO_CRITIQUE],
    )
    events = await collect(task(), deps_for(fake_openai, redis))
    analyst = next(
        e for e in events if e.agent == "deliverability_analyst" and e.kind == "agent_output"
    )
    assert "link_insecure" in str(analyst.data)
    result = contracts.CampaignDraft.model_validate(events[-1].data)
    assert result.checks.passed  # a warning only
