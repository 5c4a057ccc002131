"""Running one task through the mesh: the coordinator plans, specialists work in turn,
and the writer revises until the critic's checks pass or the budget is spent.

Every step streams progress events; every agent run's messages go to the usage sink;
everything the agents share lives in the task's Redis memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from email.message import EmailMessage
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_ai import Agent, UsageLimits, capture_run_messages
from pydantic_ai.exceptions import (
    FallbackExceptionGroup,
    ModelAPIError,
    ModelHTTPError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.messages import ModelMessage, ModelResponse

from maily.ai import contracts
from maily.ai.checks.compliance import check_subject, link_host
from maily.ai.contracts import (
    CheckFinding,
    CheckReport,
    ModelUnavailable,
    ProgressEvent,
    SpamCheckUnavailable,
    SpamReport,
    SubjectLine,
    Usage,
)
from maily.ai.mesh import agents
from maily.ai.mesh.agents import (
    SPECIALISTS,
    Critique,
    Draft,
    PerformanceInsights,
    Plan,
    PlanStep,
    Specialist,
    SubjectIdeas,
    VoiceReview,
)
from maily.ai.mesh.deps import MeshDeps
from maily.ai.mesh.memory import TaskMemory
from maily.ai.mesh.prompts import Prompt
from maily.ai.mesh.validation import (
    STANDARD_CONTACT_FIELDS,
    Allowed,
    ValidatedTemplate,
    allowed_hosts_in,
    check_template_code,
    fields_used,
    validate_template,
)

__all__ = ["MAX_ROUNDS", "BudgetSpent", "run_task"]

log = logging.getLogger(__name__)

MAX_ROUNDS = 10  # writer ↔ critic rounds, whatever the budget still allows

_ALLOWED: dict[str, tuple[Specialist, ...]] = {
    "draft_campaign": (
        "performance_analyst",
        "subject_line_specialist",
        "copywriter",
        "brand_voice",
        "compliance_critic",
        "deliverability_analyst",
    ),
    "revise_template": ("copywriter", "brand_voice", "compliance_critic", "deliverability_analyst"),
    "subject_lines": ("performance_analyst", "subject_line_specialist"),
    "personalisation": ("personalisation",),
}
_REQUIRED: dict[str, tuple[Specialist, ...]] = {
    "draft_campaign": ("subject_line_specialist", "copywriter", "compliance_critic"),
    "revise_template": ("copywriter", "compliance_critic"),
    "subject_lines": ("subject_line_specialist",),
    "personalisation": ("personalisation",),
}
_DEFAULT_PURPOSE: dict[str, str] = {
    "performance_analyst": "learn from the workspace's past campaign results",
    "subject_line_specialist": "write ranked subject lines and a preheader",
    "copywriter": "write the MJML body",
    "personalisation": "suggest merge fields",
    "brand_voice": "review the copy against the brand voice",
    "compliance_critic": "check the law, claims and tone",
    "deliverability_analyst": "check spam score, links and images",
}
_REVISE_TASK = {
    "rewrite": "Rewrite the email template in the `template` section: clearer, more compelling "
    "copy with the same message, structure, merge tags and links.",
    "shorten": "Shorten the email template in the `template` section to about half its length, "
    "keeping the main message, the call to action, merge tags and links.",
    "translate": "Translate the email template in the `template` section into the language the "
    "`request` section names, keeping its markup, merge tags and links unchanged.",
    "tone": "Rewrite the email template in the `template` section in the tone the `request` "
    "section names, keeping its message, structure, merge tags and links.",
}

_Output = TypeVar("_Output", bound=BaseModel)


class BudgetSpent(Exception):
    """The task's budget (agent runs or tokens) allows no further agent run."""


def _add(total: Usage, more: Usage) -> Usage:
    return Usage(
        requests=total.requests + more.requests,
        input_tokens=total.input_tokens + more.input_tokens,
        output_tokens=total.output_tokens + more.output_tokens,
        cost_usd=round(total.cost_usd + more.cost_usd, 6),
        models=list(dict.fromkeys([*total.models, *more.models])),
    )


def _tokens(messages: Sequence[ModelMessage]) -> int:
    return sum(
        m.usage.input_tokens + m.usage.output_tokens
        for m in messages
        if isinstance(m, ModelResponse)
    )


def _reason(exc: BaseException) -> str:
    """Why no model answered, in words a person can act on."""
    if isinstance(exc, ModelUnavailable):
        return str(exc)
    if isinstance(exc, FallbackExceptionGroup):
        return "no model answered: " + "; ".join(_reason(e) for e in exc.exceptions)
    if isinstance(exc, ModelHTTPError):
        body = str(exc.body)[:300] if exc.body is not None else ""
        return (
            f"the model provider answered HTTP {exc.status_code} ({exc.model_name}) {body}".strip()
        )
    if isinstance(exc, ModelAPIError):
        return f"the model provider could not be reached ({exc.model_name}): {exc.message}"
    if isinstance(exc, UnexpectedModelBehavior):
        return f"the model's answer could not be used: {exc.message}"
    return str(exc) or type(exc).__name__


def _errors(findings: Sequence[CheckFinding]) -> list[CheckFinding]:
    return [f for f in findings if f.severity == "error"]


def _spam_message(validated: ValidatedTemplate, brand: contracts.Brand) -> bytes:
    """The draft as an RFC 5322 message, as SpamAssassin would see it sent."""
    host = link_host(brand.website_url) or "example.com"
    message = EmailMessage()
    message["From"] = f"{brand.name or 'Newsletter'} <news@{host.removeprefix('www.')}>"
    message["To"] = "jane.doe@example.com"
    message["Subject"] = validated.subject
    message["List-Unsubscribe"] = "<https://preview.maily.invalid/unsubscribe>"
    message.set_content(validated.text or " ")
    message.add_alternative(validated.html or "<p></p>", subtype="html")
    return bytes(message)


class _Mesh:
    def __init__(
        self, task: contracts.Task, deps: MeshDeps, emit: Callable[[ProgressEvent], None]
    ) -> None:
        self.task = task
        self.deps = deps
        self.emit = emit
        self.memory = TaskMemory(deps.redis, task.task_id, deps.memory_ttl_seconds)
        self.budget = task.budget
        self.steps = 0
        self.tokens = 0
        self.usage = Usage()
        self.plan: tuple[Specialist, ...] = ()

    # -- events and budget -----------------------------------------------------------

    def event(
        self, kind: contracts.EventKind, message: str, agent: str = "", data: Any = None
    ) -> None:
        self.emit(ProgressEvent(kind=kind, agent=agent, message=message, data=data))

    def affordable(self) -> bool:
        return self.steps < self.budget.max_steps and self.tokens < self.budget.max_tokens

    async def account(self, messages: Sequence[ModelMessage]) -> None:
        tokens = _tokens(messages)
        self.steps += 1
        self.tokens += tokens
        await self.memory.spend(tokens)
        if any(isinstance(m, ModelResponse) for m in messages):
            recorded = await self.deps.usage.record(
                self.task.workspace_id, self.task.kind, list(messages)
            )
            self.usage = _add(self.usage, recorded)
        self.event(
            "usage",
            f"{self.steps} of {self.budget.max_steps} agent runs, "
            f"{self.tokens} of {self.budget.max_tokens} tokens",
            data=self.usage.model_dump(mode="json"),
        )

    async def step(
        self,
        name: str,
        agent: Agent[None, _Output],
        prompt: Prompt,
        purpose: str,
        *,
        announce: bool = True,
    ) -> _Output:
        """One agent run: budget checked first, usage recorded after, output stored."""
        if not self.affordable():
            raise BudgetSpent(
                f"{self.steps} agent runs and {self.tokens} tokens are spent of "
                f"{self.budget.max_steps} and {self.budget.max_tokens}"
            )
        self.event("agent_started", purpose, agent=name)
        limits = UsageLimits(
            request_limit=self.deps.requests_per_step,
            total_tokens_limit=max(1, self.budget.max_tokens - self.tokens),
        )
        with capture_run_messages() as messages:
            try:
                result = await agent.run(
                    prompt.render(), model=self.deps.model, usage_limits=limits
                )
            except UsageLimitExceeded as exc:
                await self.account(messages)
                raise BudgetSpent(str(exc)) from exc
            except BaseException:
                with contextlib.suppress(Exception):
                    await self.account(messages)
                raise
        await self.account(result.all_messages())
        output = result.output
        dumped = output.model_dump(mode="json")
        await self.memory.put_output(name, dumped)
        if announce:
            self.event("agent_output", f"{name}: done", agent=name, data=dumped)
        return output

    # -- shared steps ----------------------------------------------------------------

    async def coordinate(self, summary: dict[str, Any]) -> tuple[Specialist, ...]:
        kind = self.task.kind
        prompt = Prompt(
            "Plan this task: choose the specialists it needs, in order, with one line each "
            f"on what they should do. The task is of kind {kind}; specialists that fit it: "
            + ", ".join(_ALLOWED[kind])
            + "."
        ).data("task", summary)
        plan = await self.step(
            "coordinator", agents.coordinator, prompt, "planning the task", announce=False
        )
        purposes: dict[Specialist, str] = {}
        for step in plan.steps:
            if step.agent in _ALLOWED[kind] and step.agent not in purposes:
                purposes[step.agent] = step.purpose
        for required in _REQUIRED[kind]:
            purposes.setdefault(required, _DEFAULT_PURPOSE[required])
        self.plan = tuple(s for s in SPECIALISTS if s in purposes)
        final = Plan(
            steps=[PlanStep(agent=s, purpose=purposes[s]) for s in self.plan], notes=plan.notes
        )
        dumped = final.model_dump(mode="json")
        await self.memory.put("plan", dumped)
        self.event("plan", " → ".join(self.plan), agent="coordinator", data=dumped)
        return self.plan

    async def analyse_performance(self) -> None:
        name = "performance_analyst"
        results = await self.deps.results.recent(
            self.task.workspace_id, limit=self.deps.past_campaigns
        )
        if not results:
            insights = PerformanceInsights(summary="There are no sent campaigns to learn from yet.")
            await self.memory.put_output(name, insights.model_dump(mode="json"))
            self.event("agent_output", insights.summary, agent=name, data=insights.model_dump())
            return
        rows = [
            {
                "name": r.name,
                "subject": r.subject,
                "sent_at": r.sent_at,
                "delivered": r.delivered,
                "unique_human_opens": r.unique_opens,
                "open_rate": round(r.unique_opens / r.delivered, 4) if r.delivered else None,
                "unique_clicks": r.unique_clicks,
                "click_rate": round(r.unique_clicks / r.delivered, 4) if r.delivered else None,
                "unsubscribes": r.unsubscribes,
                "complaints": r.complaints,
                "bounces": r.bounces,
            }
            for r in results
        ]
        prompt = Prompt(
            "Summarise what the past campaigns in the `past_campaigns` section show about "
            "subject lines and content that readers open and click, and what to avoid."
        ).data("past_campaigns", rows)
        await self.step(name, agents.performance_analyst, prompt, "reading past results")

    async def insight_sections(self, prompt: Prompt) -> Prompt:
        insights = await self.memory.output("performance_analyst")
        if insights:
            prompt.data("performance_insights", insights)
        return prompt

    async def subject_lines(
        self, brief: dict[str, Any], count: int, allowed: Allowed
    ) -> list[SubjectLine]:
        name = "subject_line_specialist"
        findings: list[str] = []
        kept: list[SubjectLine] = []
        for _attempt in range(2):
            prompt = Prompt(
                f"Write {count} subject lines, each with a preheader, for the email the "
                "`brief` section describes, best first."
                + (" Earlier ones were refused for the `problems` listed." if findings else "")
            ).data("brief", brief)
            prompt.data("brand", self.task.brand.model_dump())
            await self.insight_sections(prompt)
            if findings:
                prompt.data("problems", findings)
            ideas: SubjectIdeas = await self.step(
                name, agents.subject_line_specialist, prompt, "writing subject lines"
            )
            refused: list[CheckFinding] = []
            for idea in ideas.items:
                problems = (
                    check_template_code(idea.text, allowed, "subject")
                    + check_template_code(idea.preheader, allowed, "preheader")
                    + _errors(check_subject(idea.text, idea.preheader))
                )
                if problems:
                    refused += problems
                    findings += [f'"{idea.text}": {p.message}' for p in problems]
                    continue
                kept.append(
                    SubjectLine(
                        text=idea.text.strip(),
                        preheader=idea.preheader.strip(),
                        score=idea.score,
                        rationale=idea.rationale,
                    )
                )
            if refused:
                self.event(
                    "check",
                    f"{len(refused)} problems in subject lines; those lines are left out",
                    agent=name,
                    data=CheckReport(passed=bool(kept), findings=refused).model_dump(mode="json"),
                )
            if len(kept) >= count or (kept and not self.affordable()):
                break
            if not self.affordable():
                break
        kept.sort(key=lambda line: -line.score)
        await self.memory.put("subject_lines", [line.model_dump(mode="json") for line in kept])
        if not kept:
            raise UnexpectedModelBehavior("no subject line passed the checks")
        return kept[:count]

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
                    spam = await self.deps.spam.check(_spam_message(validated, brand))
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
        if not _errors(findings):
            # The models review only a draft that passed every rule: their time is spent
            # on what rules cannot judge.
            try:
                if "compliance_critic" in self.plan:
                    findings += await self.critique(validated)
                if "brand_voice" in self.plan and brand.voice and not _errors(findings):
                    findings += await self.voice(validated)
            except BudgetSpent:
                skipped.append("the budget allowed no model review")
        validated.report = CheckReport(passed=not _errors(findings), findings=findings, spam=spam)
        await self.memory.add_findings([f.model_dump(mode="json") for f in findings])
        errors = len(_errors(findings))
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
                errors = _errors(validated.report.findings)
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
                [f"{f.check} ({f.where}): {f.message}" for f in _errors(previous.report.findings)],
            )
        return prompt

    # -- the four kinds ------------------------------------------------------------------

    async def draft_campaign(self, task: contracts.DraftCampaignTask) -> contracts.CampaignDraft:
        brief = {
            "brief": task.brief,
            "audience": task.audience,
            "tone": task.tone,
            "language": task.language,
        }
        await self.memory.put("brief", brief)
        await self.coordinate(
            {"kind": task.kind, **brief, "subject_variants": task.subject_variants}
        )
        brand = task.brand
        allowed = Allowed(hosts=allowed_hosts_in([task.brief, brand.website_url, brand.logo_url]))
        if "performance_analyst" in self.plan:
            await self.analyse_performance()
        lines = await self.subject_lines(brief, task.subject_variants, allowed)

        async def write(previous: ValidatedTemplate | None) -> Prompt:
            prompt = Prompt(
                "Write the email the `brief` section describes as one MJML document, for "
                "the subject line in `subject_line`."
                + (
                    " Revise `previous_draft` so that every item in `problems` is fixed."
                    if previous is not None
                    else ""
                )
            ).data("brief", await self.memory.get("brief"))
            chosen = await self.memory.get("subject_lines")
            prompt.data("subject_line", chosen[0] if chosen else {})
            await self.insight_sections(prompt)
            return self.writer_sections(prompt, allowed, previous)

        validated, _draft, rounds, exhausted = await self.critic_loop(
            write, allowed, subject=lambda d: lines[0].text, preheader=lambda d: lines[0].preheader
        )
        return contracts.CampaignDraft(
            subject_lines=lines,
            preheader=lines[0].preheader,
            mjml=validated.mjml,
            html=validated.html,
            text=validated.text,
            checks=validated.report,
            iterations=rounds,
            budget_exhausted=exhausted,
            usage=self.usage,
        )

    async def revise_template(
        self, task: contracts.ReviseTemplateTask
    ) -> contracts.RevisedTemplate:
        request = {
            "mode": task.mode,
            "target_language": task.target_language,
            "tone": task.tone,
            "notes": task.instructions,
        }
        await self.memory.put("brief", {**request, "subject": task.subject})
        await self.coordinate({"kind": task.kind, **request, "template_chars": len(task.mjml)})
        brand = task.brand
        allowed = Allowed(
            hosts=allowed_hosts_in([task.mjml, brand.website_url, brand.logo_url]),
            fields=fields_used(task.mjml) | fields_used(task.subject),
        )

        async def write(previous: ValidatedTemplate | None) -> Prompt:
            prompt = Prompt(
                _REVISE_TASK[task.mode]
                + " Give the revised subject too."
                + (
                    " Revise `previous_draft` so that every item in `problems` is fixed."
                    if previous is not None
                    else ""
                )
            )
            prompt.data("request", request)
            prompt.data("subject", task.subject)
            prompt.data("template", task.mjml)
            return self.writer_sections(prompt, allowed, previous)

        validated, draft, _rounds, _exhausted = await self.critic_loop(
            write,
            allowed,
            subject=lambda d: d.subject.strip() or task.subject,
            preheader=lambda d: d.preheader.strip(),
        )
        return contracts.RevisedTemplate(
            subject=validated.subject,
            mjml=validated.mjml,
            html=validated.html,
            text=validated.text,
            notes=draft.notes,
            checks=validated.report,
            usage=self.usage,
        )

    async def subject_line_task(
        self, task: contracts.SubjectLinesTask
    ) -> contracts.SubjectLineSuggestions:
        brief = {"brief": task.brief, "language": task.language}
        await self.memory.put("brief", brief)
        await self.coordinate({"kind": task.kind, **brief, "count": task.count})
        if "performance_analyst" in self.plan:
            await self.analyse_performance()
        allowed = Allowed()
        lines = await self.subject_lines(brief, task.count, allowed)
        return contracts.SubjectLineSuggestions(items=lines, usage=self.usage)

    async def personalisation(
        self, task: contracts.PersonalisationTask
    ) -> contracts.PersonalisationSuggestions:
        await self.memory.put("brief", {"fields": task.fields})
        await self.coordinate({"kind": task.kind, "fields": len(task.fields)})
        known = set(task.fields) | fields_used(task.mjml)
        allowed = Allowed(fields=frozenset(known))
        usable = sorted(STANDARD_CONTACT_FIELDS - {"tags"} | known)
        prompt = (
            Prompt(
                "Suggest where the email template in the `template` section should use the "
                "recipient's data, using only the merge fields in `fields`."
            )
            .data("fields", usable)
            .data("template", task.mjml)
        )
        ideas = await self.step(
            "personalisation", agents.personalisation, prompt, "suggesting merge fields"
        )
        kept: list[contracts.PersonalisationSuggestion] = []
        refused: list[CheckFinding] = []
        for idea in ideas.items:
            field = idea.field.strip().removeprefix("contact.").removeprefix("fields.")
            problems = check_template_code(idea.suggestion, allowed, "suggestion")
            problems += check_template_code(idea.example, allowed, "example")
            if field not in usable:
                problems.append(
                    CheckFinding(
                        check="merge_field",
                        severity="error",
                        message=f'"{idea.field}" is not a field this workspace has.',
                        where=idea.where[:120],
                    )
                )
            if problems:
                refused += problems
                continue
            kept.append(
                contracts.PersonalisationSuggestion(
                    where=idea.where, field=field, suggestion=idea.suggestion, example=idea.example
                )
            )
        if refused:
            self.event(
                "check",
                f"{len(refused)} suggestions left out",
                agent="personalisation",
                data=CheckReport(passed=False, findings=refused).model_dump(mode="json"),
            )
        return contracts.PersonalisationSuggestions(items=kept, usage=self.usage)

    async def run(self) -> None:
        task = self.task
        self.event("started", f"{task.kind} accepted", data={"task_id": str(task.task_id)})
        try:
            result: BaseModel
            if isinstance(task, contracts.DraftCampaignTask):
                result = await self.draft_campaign(task)
            elif isinstance(task, contracts.ReviseTemplateTask):
                result = await self.revise_template(task)
            elif isinstance(task, contracts.SubjectLinesTask):
                result = await self.subject_line_task(task)
            else:
                result = await self.personalisation(task)
        except BudgetSpent as exc:
            self.event("error", f"The budget ran out before a result: {exc}.")
            return
        except (
            ModelUnavailable,
            FallbackExceptionGroup,
            ModelAPIError,
            UnexpectedModelBehavior,
        ) as exc:
            self.event("error", f"The AI task failed: {_reason(exc)}.")
            return
        except Exception as exc:  # a bug must still end the stream with a reason
            log.exception("ai task %s failed", task.task_id)
            self.event("error", f"The AI task failed unexpectedly ({type(exc).__name__}).")
            return
        self.event("result", f"{task.kind} done", data=result.model_dump(mode="json"))


async def run_task(task: contracts.Task, deps: MeshDeps) -> AsyncIterator[ProgressEvent]:
    """Run one task; yields progress events as they happen, the last a `result` (data:
    the typed result's JSON) or an `error` (message says why)."""
    queue: asyncio.Queue[ProgressEvent | None] = asyncio.Queue()
    mesh = _Mesh(task, deps, queue.put_nowait)

    async def drive() -> None:
        try:
            await mesh.run()
        finally:
            queue.put_nowait(None)

    worker = asyncio.create_task(drive())
    try:
        while (event := await queue.get()) is not None:
            yield event
        await worker
    finally:
        if not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
