"""Running one task through the mesh: the coordinator plans, specialists work in turn,
and the writer revises until the critic's checks pass or the budget is spent.

Every step streams progress events; every agent run's messages go to the usage sink;
everything the agents share lives in the task's Redis memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from pydantic import BaseModel
from pydantic_ai.exceptions import (
    FallbackExceptionGroup,
    ModelAPIError,
    UnexpectedModelBehavior,
)

from maily.ai import contracts
from maily.ai.contracts import (
    CheckFinding,
    CheckReport,
    ModelUnavailable,
    ProgressEvent,
)
from maily.ai.mesh import agents
from maily.ai.mesh.critic import CriticLoop
from maily.ai.mesh.deps import MeshDeps
from maily.ai.mesh.prompts import Prompt
from maily.ai.mesh.steps import BudgetSpent, failure_reason
from maily.ai.mesh.validation import (
    STANDARD_CONTACT_FIELDS,
    Allowed,
    ValidatedTemplate,
    allowed_hosts_in,
    check_template_code,
    fields_used,
)

__all__ = ["run_task"]

log = logging.getLogger(__name__)

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


class _Mesh(CriticLoop):
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
            self.event(
                "error", f"The budget ran out before a result: {exc}.", data={"reason": "budget"}
            )
            return
        except (
            ModelUnavailable,
            FallbackExceptionGroup,
            ModelAPIError,
            UnexpectedModelBehavior,
        ) as exc:
            self.event(
                "error",
                f"The AI task failed: {failure_reason(exc)}.",
                # A model that answered unusably is no outage (503 ai_task_failed);
                # none answering is (503 ai_model_unavailable).
                data={
                    "reason": "model_output"
                    if isinstance(exc, UnexpectedModelBehavior)
                    else "model_unavailable"
                },
            )
            return
        except Exception as exc:  # a bug must still end the stream with a reason
            log.exception("ai task %s failed", task.task_id)
            self.event(
                "error",
                f"The AI task failed unexpectedly ({type(exc).__name__}).",
                data={"reason": "internal"},
            )
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
