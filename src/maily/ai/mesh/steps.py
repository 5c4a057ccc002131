"""The machinery every task runs on: progress events, the budget, one agent run at a
time (usage recorded, output kept in task memory), the coordinator's plan, and the
specialists that only inform others (performance analyst, subject lines)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
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
from maily.ai.checks.compliance import check_subject
from maily.ai.contracts import (
    CheckFinding,
    CheckReport,
    ModelUnavailable,
    ProgressEvent,
    SubjectLine,
    Usage,
)
from maily.ai.mesh import agents
from maily.ai.mesh.agents import (
    SPECIALISTS,
    PerformanceInsights,
    Plan,
    PlanStep,
    Specialist,
    SubjectIdeas,
)
from maily.ai.mesh.deps import MeshDeps
from maily.ai.mesh.memory import TaskMemory
from maily.ai.mesh.prompts import Prompt
from maily.ai.mesh.validation import (
    Allowed,
    check_template_code,
    errors_in,
)

__all__ = ["MAX_ROUNDS", "BudgetSpent", "MeshRun", "errors_in", "failure_reason"]

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


def failure_reason(exc: BaseException) -> str:
    """Why no model answered, in words a person can act on."""
    if isinstance(exc, ModelUnavailable):
        return str(exc)
    if isinstance(exc, FallbackExceptionGroup):
        return "no model answered: " + "; ".join(failure_reason(e) for e in exc.exceptions)
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


class MeshRun:
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
        # The task memory keeps the totals; these are its answer.
        self.tokens, self.steps = await self.memory.spend(_tokens(messages))
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
                    + errors_in(check_subject(idea.text, idea.preheader))
                )
                if any(line.text == idea.text.strip() for line in kept):
                    continue
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
            # Asked again only for lines that were refused, and only when affordable.
            if len(kept) >= count or not refused or not self.affordable():
                break
        kept.sort(key=lambda line: -line.score)
        await self.memory.put("subject_lines", [line.model_dump(mode="json") for line in kept])
        if not kept:
            raise UnexpectedModelBehavior("no subject line passed the checks")
        return kept[:count]
