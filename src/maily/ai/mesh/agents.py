"""The mesh's agents: each a pydantic-ai Agent with fixed instructions and a typed
output. Instructions never contain task data; the user prompt carries it in data
sections (see prompts.py). The model is given per run, so one set of agents serves
every workspace's provider."""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, Field
from pydantic_ai import Agent

from maily.ai.mesh.prompts import DATA_RULES

__all__ = [
    "INSTRUCTED_AGENTS",
    "SPECIALISTS",
    "Critique",
    "CritiqueFinding",
    "Draft",
    "PerformanceInsights",
    "PersonalisationIdea",
    "PersonalisationIdeas",
    "Plan",
    "PlanStep",
    "Specialist",
    "SubjectIdea",
    "SubjectIdeas",
    "VoiceReview",
    "instructions",
]

Specialist = Literal[
    "performance_analyst",
    "subject_line_specialist",
    "copywriter",
    "personalisation",
    "brand_voice",
    "compliance_critic",
    "deliverability_analyst",
]
# The order specialists run in whatever order a plan lists them: insight before
# writing, writing before review.
SPECIALISTS: tuple[Specialist, ...] = (
    "performance_analyst",
    "subject_line_specialist",
    "copywriter",
    "personalisation",
    "brand_voice",
    "compliance_critic",
    "deliverability_analyst",
)


class PlanStep(BaseModel):
    agent: Specialist
    purpose: str = Field(max_length=500)


class Plan(BaseModel):
    steps: list[PlanStep] = Field(max_length=12)
    notes: str = Field(default="", max_length=1000)


class PerformanceInsights(BaseModel):
    summary: str = Field(max_length=2000)
    what_works: list[str] = Field(default=[], max_length=10)
    avoid: list[str] = Field(default=[], max_length=10)


class SubjectIdea(BaseModel):
    text: str = Field(max_length=300)
    preheader: str = Field(default="", max_length=300)
    score: float = Field(ge=0, le=1)
    rationale: str = Field(default="", max_length=500)


class SubjectIdeas(BaseModel):
    items: list[SubjectIdea] = Field(min_length=1, max_length=20)


class Draft(BaseModel):
    subject: str = Field(default="", max_length=300)
    preheader: str = Field(default="", max_length=300)
    mjml: str = Field(min_length=1, max_length=200_000)
    notes: str = Field(default="", max_length=2000)


class PersonalisationIdea(BaseModel):
    where: str = Field(max_length=500)
    field: str = Field(max_length=100)
    suggestion: str = Field(max_length=1000)
    example: str = Field(default="", max_length=500)


class PersonalisationIdeas(BaseModel):
    items: list[PersonalisationIdea] = Field(max_length=20)


class VoiceReview(BaseModel):
    on_voice: bool
    issues: list[str] = Field(default=[], max_length=10)


class CritiqueFinding(BaseModel):
    check: Literal["claims", "tone", "clarity"]
    severity: Literal["error", "warning"]
    message: str = Field(max_length=500)
    where: str = Field(default="", max_length=300)


class Critique(BaseModel):
    findings: list[CritiqueFinding] = Field(default=[], max_length=20)


_MJML_RULES = """\
Write MJML 4: one <mjml><mj-body> document of mj-section / mj-column / mj-text / mj-image /
mj-button / mj-divider elements. Use the brand's colour, font and logo from the brand data.
Merge tags are Jinja: {{ contact.first_name | default("there") }}, {{ contact.last_name }},
{{ contact.full_name }}, {{ contact.email }}, {{ workspace.name }},
{{ workspace.postal_address }}, {{ campaign.name }}, {{ unsubscribe_url }},
{{ preferences_url }}, {{ view_online_url }}; custom fields only when the data lists them,
as {{ contact.fields.<key> }}. {% if %} ... {% endif %} around merge tags is allowed; no
other template code. Every email ends with a footer holding {{ workspace.postal_address }}
and <a href="{{ unsubscribe_url }}">Unsubscribe</a>. Link only to URLs the brief, the brand
or the original template give. No scripts, forms, iframes or event handlers. Write plain,
honest copy: no spam phrases ("100% free", "act now", "risk-free"), no capitals for
emphasis, no claims the brief does not support."""

_INSTRUCTIONS: dict[str, str] = {
    "coordinator": """\
You coordinate a team of email-marketing specialists. Decide which of them the task needs
and in what order, and say briefly what each should do. Specialists:
performance_analyst (learns from the workspace's past campaign results),
subject_line_specialist (ranked subject lines and a preheader), copywriter (writes or
revises the MJML body), personalisation (merge-field suggestions), brand_voice (reviews
copy against the brand voice), compliance_critic (law, claims and tone),
deliverability_analyst (spam score, links, images).""",
    "performance_analyst": """\
You analyse a workspace's past email campaigns (open, click, unsubscribe, complaint and
bounce counts per campaign) and say briefly what the subject lines and content that did
well have in common and what to avoid. Base every statement on the figures given.""",
    "subject_line_specialist": """\
You write email subject lines: specific, honest, under 60 characters, no "RE:"/"FWD:", no
capitals for emphasis, at most one "!" and no spam phrases. Give each a preheader (under
100 characters) that adds to the subject, a score from 0 to 1 for how well you expect it
to perform, and a one-line rationale; best first. Use what past results show works.""",
    "copywriter": "You write marketing emails in MJML.\n" + _MJML_RULES,
    "personalisation": """\
You suggest where an email should use the recipient's data: quote the passage, name one
merge field from the list of fields the data gives, and show the sentence with the merge
tag in it. Suggest only fields in that list.""",
    "brand_voice": """\
You review email copy against a brand's voice description. Say whether it is on voice;
list concrete passages that are not, and how to say them in the brand's voice.""",
    "compliance_critic": """\
You review marketing email copy for claims and tone: unsupported or exaggerated claims
(guarantees, "best", health or financial promises), pressure tactics, misleading urgency,
anything a regulator or a reader would object to. Report each as an error (must change)
or a warning (could be better), quoting where. Report nothing when the copy is fine; the
unsubscribe link, postal address, links and spam phrases are checked elsewhere.""",
}

_Output = TypeVar("_Output", bound=BaseModel)


def instructions(name: str) -> str:
    """An agent's fixed instructions (the same for every task)."""
    return _INSTRUCTIONS[name] + "\n\n" + DATA_RULES


def _agent(name: str, output_type: type[_Output]) -> Agent[None, _Output]:
    return Agent(
        output_type=output_type,
        instructions=instructions(name),
        name=name,
        retries=1,
    )


coordinator = _agent("coordinator", Plan)
performance_analyst = _agent("performance_analyst", PerformanceInsights)
subject_line_specialist = _agent("subject_line_specialist", SubjectIdeas)
copywriter = _agent("copywriter", Draft)
personalisation = _agent("personalisation", PersonalisationIdeas)
brand_voice = _agent("brand_voice", VoiceReview)
compliance_critic = _agent("compliance_critic", Critique)


INSTRUCTED_AGENTS = tuple(_INSTRUCTIONS)
