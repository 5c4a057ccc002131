"""The writer ↔ critic loop: every draft is validated and checked (deliverability
analyst, compliance critic, brand voice), and the copywriter revises with the findings
until the checks pass, the budget is spent or MAX_ROUNDS are done."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from maily.ai import contracts
from maily.ai.checks.compliance import link_host
from maily.ai.checks.spam import message_to_check
from maily.ai.contracts import (
    CheckFinding,
    CheckReport,
    SpamCheckUnavailable,
    SpamReport,
)
from maily.ai.mesh import agents
from maily.ai.mesh.agents import (
    Critique,
    Draft,
    VoiceReview,
)
from maily.ai.mesh.prompts import Prompt
from maily.ai.mesh.steps import MAX_ROUNDS, BudgetSpent, MeshRun, errors_in
from maily.ai.mesh.validation import (
    Allowed,
    ValidatedTemplate,
    validate_template,
)

__all__ = ["CriticLoop"]


def _spam_message(
    validated: ValidatedTemplate, brand: contracts.Brand, workspace_id: uuid.UUID
) -> bytes:
    """The draft as the whole message SpamAssassin would see sent: the same build and
    headers as a real send (`message_to_check`), from the brand's own domain."""
    host = (link_host(brand.website_url) or "example.com").removeprefix("www.")
    return message_to_check(
        subject=validated.subject,
        html=validated.html or "<p></p>",
        text=validated.text or " ",
        from_email=f"news@{host}",
        from_name=brand.name or "Newsletter",
        workspace_id=workspace_id,
    )


class CriticLoop(MeshRun):
    # -- writer ↔ critic --------------------------------------------------------------

    async def review(
        self, draft: Draft, allowed: Allowed, subject: str, preheader: str
    ) -> ValidatedTemplate:
        brand = self.task.brand
        validated = await validate_template(
            draft.mjml,
            subject=subject,
            preheader=preheader,
            brand=brand,
            allowed=allowed,
            # a template revised without a subject gets one from its campaign
            require_subject=not isinstance(self.task, contracts.ReviseTemplateTask)
            or bool(self.task.subject.strip()),
        )
        findings = list(validated.report.findings)
        spam: SpamReport | None = None
        skipped: list[str] = []
        if "deliverability_analyst" in self.plan and validated.compiled:
            name = "deliverability_analyst"
            self.event("agent_started", "scoring links, images and spam", agent=name)
            own: list[CheckFinding] = []
            if self.deps.spam is not None:
                try:
                    spam = await self.deps.spam.check(
                        _spam_message(validated, brand, self.task.workspace_id)
                    )
                except SpamCheckUnavailable as exc:
                    own.append(
                        CheckFinding(
                            check="spam_score",
                            severity="warning",
                            message=f"SpamAssassin could not score the draft ({exc}); "
                            "check it again later.",
                        )
                    )
                if spam is not None and spam.is_spam:
                    rules = ", ".join(rule.name for rule in spam.rules[:6])
                    own.append(
                        CheckFinding(
                            check="spam_score",
                            severity="error",
                            message=f"SpamAssassin scores the draft {spam.score:g} (spam from "
                            f"{spam.threshold:g}); rewrite what its rules flag: {rules}.",
                        )
                    )
            findings += own
            shown = [f for f in findings if f.check.startswith(("link", "image"))] + own
            self.event(
                "agent_output",
                f"{len(shown)} deliverability findings",
                agent=name,
                data={
                    "findings": [f.model_dump(mode="json") for f in shown],
                    "spam": spam.model_dump(mode="json") if spam else None,
                },
            )
        if not errors_in(findings):
            # The models review only a draft that passed every rule: their time is spent
            # on what rules cannot judge.
            try:
                if "compliance_critic" in self.plan:
                    findings += await self.critique(validated)
                if "brand_voice" in self.plan and brand.voice and not errors_in(findings):
                    findings += await self.voice(validated)
            except BudgetSpent:
                skipped.append("the budget allowed no model review")
                findings.append(
                    CheckFinding(
                        check="model_review",
                        severity="warning",
                        message="The task's budget allowed no model review of claims, tone "
                        "and brand voice; read the copy for those yourself.",
                    )
                )
        validated.report = CheckReport(passed=not errors_in(findings), findings=findings, spam=spam)
        await self.memory.add_findings([f.model_dump(mode="json") for f in findings])
        errors = len(errors_in(findings))
        message = f"{errors} errors, {len(findings) - errors} warnings"
        if skipped:
            message += "; " + "; ".join(skipped)
        self.event(
            "check",
            message,
            agent="compliance_critic",
            data=validated.report.model_dump(mode="json"),
        )
        return validated

    async def critique(self, validated: ValidatedTemplate) -> list[CheckFinding]:
        prompt = Prompt(
            "Review the email in the `email` section for unsupported claims and tone."
        ).data("email", {"subject": validated.subject, "text": validated.text})
        critique: Critique = await self.step(
            "compliance_critic", agents.compliance_critic, prompt, "reviewing claims and tone"
        )
        return [
            CheckFinding(check=f.check, severity=f.severity, message=f.message, where=f.where)
            for f in critique.findings
        ]

    async def voice(self, validated: ValidatedTemplate) -> list[CheckFinding]:
        prompt = (
            Prompt("Review the email in the `email` section against the voice in `brand`.")
            .data("brand", {"name": self.task.brand.name, "voice": self.task.brand.voice})
            .data("email", {"subject": validated.subject, "text": validated.text})
        )
        review: VoiceReview = await self.step(
            "brand_voice", agents.brand_voice, prompt, "reviewing the brand voice"
        )
        severity = "warning" if review.on_voice else "error"
        issues = review.issues or ([] if review.on_voice else ["the copy is off the brand voice"])
        return [
            CheckFinding(check="brand_voice", severity=severity, message=issue[:500], where="body")
            for issue in issues
        ]

    async def critic_loop(
        self, write: Callable[[ValidatedTemplate | None], Awaitable[Prompt]], allowed: Allowed,
        subject: Callable[[Draft], str], preheader: Callable[[Draft], str],
    ) -> tuple[ValidatedTemplate, Draft, int, bool]:  # fmt: skip
        """Draft, check, revise with the findings; until the checks pass, the budget is
        spent or MAX_ROUNDS are done. Returns the best draft (fewest errors, the later
        one on a tie), its Draft, the rounds and whether it stopped with errors."""
        best: tuple[ValidatedTemplate, Draft] | None = None
        previous: ValidatedTemplate | None = None
        rounds = 0
        stopped = False
        try:
            while True:
                purpose = "writing the first draft" if previous is None else "revising the draft"
                draft: Draft = await self.step(
                    "copywriter", agents.copywriter, await write(previous), purpose
                )
                rounds = await self.memory.next_iteration()
                validated = await self.review(draft, allowed, subject(draft), preheader(draft))
                if best is None or validated.rank() <= best[0].rank():
                    best = (validated, draft)
                if validated.report.passed:
                    break
                if rounds >= MAX_ROUNDS or not self.affordable():
                    stopped = True
                    break
                errors = errors_in(validated.report.findings)
                self.event(
                    "revision",
                    f"revising: {len(errors)} problems to fix",
                    agent="copywriter",
                    data={"findings": [f.model_dump(mode="json") for f in errors]},
                )
                previous = validated
        except BudgetSpent:
            stopped = True
            if best is None:
                raise
        assert best is not None
        return best[0], best[1], rounds, stopped and not best[0].report.passed

    def writer_sections(
        self, prompt: Prompt, allowed: Allowed, previous: ValidatedTemplate | None
    ) -> Prompt:
        prompt.data("brand", self.task.brand.model_dump())
        prompt.data("allowed_link_domains", sorted(allowed.hosts))
        if allowed.fields:
            prompt.data("custom_fields", sorted(allowed.fields))
        if previous is not None:
            prompt.data("previous_draft", previous.mjml)
            prompt.data(
                "problems",
                [
                    f"{f.check} ({f.where}): {f.message}"
                    for f in errors_in(previous.report.findings)
                ],
            )
        return prompt
