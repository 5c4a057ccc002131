"""A scripted TaskRunner for the gRPC server, client and endpoint tests.

It stands in for the agent mesh only (the server, the network, the client, the API and
the database are real): what it does is chosen by markers in the task's text, so each
test asks for the behaviour it checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from maily.ai import contracts

MJML = """<mjml><mj-body><mj-section><mj-column>
<mj-text>Hello {{ contact.first_name | default("there") }}, spring is here.</mj-text>
<mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a> {{ workspace.postal_address }}</mj-text>
</mj-column></mj-section></mj-body></mjml>"""

HANG = "[hang]"  # waits until cancelled, or until the test sets `Script.release`
MODEL_DOWN = "[model-down]"  # ModelUnavailable before any event
MODEL_DOWN_LATER = "[model-down-later]"  # ModelUnavailable after the first events
BREAK = "[break]"  # an unexpected exception after the first event
BAD_RESULT = "[bad-result]"  # a result that is not the task's result type


@dataclass
class Script:
    """What the runner saw and did, for assertions (and a gate a test may hold)."""

    tasks: list[contracts.Task] = field(default_factory=list)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


def _text(task: contracts.Task) -> str:
    if isinstance(task, contracts.DraftCampaignTask | contracts.SubjectLinesTask):
        return task.brief
    if isinstance(task, contracts.ReviseTemplateTask):
        return task.instructions + task.mjml
    return task.mjml


CHECKS = contracts.CheckReport(passed=True)


def result_of(task: contracts.Task) -> contracts.ContractModel:
    lines = [
        contracts.SubjectLine(text="Spring is here", preheader="Fresh picks inside", score=0.9),
        contracts.SubjectLine(text="Your spring edit", score=0.7),
    ]
    if isinstance(task, contracts.DraftCampaignTask):
        return contracts.CampaignDraft(
            subject_lines=lines,
            preheader="Fresh picks inside",
            mjml=MJML,
            html="<p>Hello there</p>",
            text="Hello there",
            checks=CHECKS,
            iterations=1,
        )
    if isinstance(task, contracts.ReviseTemplateTask):
        return contracts.RevisedTemplate(
            subject=task.subject or "Revised",
            mjml=MJML,
            html="<p>Hello</p>",
            text="Hello",
            notes=f"mode {task.mode}",
            checks=CHECKS,
        )
    if isinstance(task, contracts.SubjectLinesTask):
        return contracts.SubjectLineSuggestions(items=lines[: task.count])
    return contracts.PersonalisationSuggestions(
        items=[
            contracts.PersonalisationSuggestion(
                where="Hello", field=task.fields[0] if task.fields else "first_name",
                suggestion="Greet by first name",
            )
        ]
    )  # fmt: skip


def scripted_runner(script: Script):  # type: ignore[no-untyped-def]
    async def run(task: contracts.Task) -> AsyncIterator[contracts.ProgressEvent]:
        script.tasks.append(task)
        text = _text(task)
        if MODEL_DOWN in text and MODEL_DOWN_LATER not in text:
            raise contracts.ModelUnavailable("provider openai: 401 invalid API key")
        yield contracts.ProgressEvent(kind="started", message="task accepted")
        script.started.set()
        if HANG in text:
            try:
                await script.release.wait()
            except asyncio.CancelledError:
                script.cancelled.set()
                raise
        yield contracts.ProgressEvent(
            kind="plan", agent="coordinator", message="copywriter, then critic",
            data={"steps": ["copywriter", "critic"]},
        )  # fmt: skip
        if MODEL_DOWN_LATER in text:
            raise contracts.ModelUnavailable("every provider failed: openai timed out")
        if BREAK in text:
            raise RuntimeError("a bug in an agent")
        if BAD_RESULT in text:
            yield contracts.ProgressEvent(kind="result", message="done", data={"nonsense": 1})
            return
        yield contracts.ProgressEvent(
            kind="result", message="done", data=result_of(task).model_dump(mode="json")
        )

    return run
