"""What the AI service's parts hand each other: task requests, progress events and
typed results.

The gRPC messages (proto/maily/ai/v1/assistant.proto) carry requests field by field;
a task's result travels as JSON in its last event and is parsed back into these
models, so the API, the service and the agent mesh agree on one shape."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage

# -- progress --------------------------------------------------------------------

EventKind = Literal[
    "started",  # the task was accepted
    "plan",  # the coordinator's plan: which specialists, in what order
    "agent_started",  # a specialist began a step
    "agent_output",  # a specialist finished a step (data: its typed output)
    "check",  # the checks ran over a draft (data: CheckReport)
    "revision",  # the writer is revising after failed checks
    "usage",  # tokens and cost so far (data: Usage)
    "result",  # the last event of a finished task (data: the task's result)
    "error",  # the last event of a failed task (message says why)
]

TaskKind = Literal["draft_campaign", "revise_template", "subject_lines", "personalisation"]


class ContractModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProgressEvent(ContractModel):
    kind: EventKind
    agent: str = ""
    message: str
    data: dict[str, object] | None = None


# -- inputs ----------------------------------------------------------------------


class Brand(ContractModel):
    name: str = ""
    voice: str = ""
    primary_color: str = ""
    font_family: str = ""
    logo_url: str = ""
    postal_address: str = ""
    website_url: str = ""


class Budget(ContractModel):
    max_steps: int = Field(default=12, ge=1, le=100)
    max_tokens: int = Field(default=60_000, ge=1_000, le=2_000_000)


class _Task(ContractModel):
    workspace_id: uuid.UUID
    task_id: uuid.UUID
    brand: Brand = Brand()
    budget: Budget = Budget()


class DraftCampaignTask(_Task):
    kind: Literal["draft_campaign"] = "draft_campaign"
    brief: str = Field(min_length=1, max_length=8_000)
    audience: str = ""
    tone: str = ""
    language: str = "en"
    subject_variants: int = Field(default=5, ge=1, le=10)


class ReviseTemplateTask(_Task):
    kind: Literal["revise_template"] = "revise_template"
    mode: Literal["rewrite", "shorten", "translate", "tone"]
    subject: str = ""
    mjml: str = Field(min_length=1, max_length=200_000)
    target_language: str = ""
    tone: str = ""
    instructions: str = ""


class SubjectLinesTask(_Task):
    kind: Literal["subject_lines"] = "subject_lines"
    brief: str = Field(min_length=1, max_length=8_000)
    count: int = Field(default=5, ge=1, le=10)
    language: str = "en"


class PersonalisationTask(_Task):
    kind: Literal["personalisation"] = "personalisation"
    mjml: str = Field(min_length=1, max_length=200_000)
    fields: list[str] = []


Task = Annotated[
    DraftCampaignTask | ReviseTemplateTask | SubjectLinesTask | PersonalisationTask,
    Field(discriminator="kind"),
]

# -- results ---------------------------------------------------------------------


class Usage(ContractModel):
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    models: list[str] = []  # "provider:model" of every model that answered


class CheckFinding(ContractModel):
    check: str  # e.g. "unsubscribe_link", "postal_address", "spam_phrase", "link", "image"
    severity: Literal["error", "warning"]
    message: str
    where: str = ""  # "subject", "body", a link's URL ...


class SpamRule(ContractModel):
    name: str
    score: float
    description: str = ""


class SpamReport(ContractModel):
    score: float
    threshold: float
    is_spam: bool
    rules: list[SpamRule] = []


class CheckReport(ContractModel):
    passed: bool  # no finding of severity "error"
    findings: list[CheckFinding] = []
    spam: SpamReport | None = None  # None: SpamAssassin was not asked or not reachable


class SubjectLine(ContractModel):
    text: str
    preheader: str = ""
    score: float = Field(ge=0, le=1)  # the specialist's ranking, best first
    rationale: str = ""


class CampaignDraft(ContractModel):
    subject_lines: list[SubjectLine]
    preheader: str
    mjml: str  # validated: compiles, renders in the sandbox; links and images checked
    html: str  # rendered preview with sample data, sanitised
    text: str
    checks: CheckReport
    iterations: int  # writer ↔ critic rounds
    budget_exhausted: bool = False  # stopped by the budget with checks still failing
    usage: Usage = Usage()


class RevisedTemplate(ContractModel):
    subject: str
    mjml: str
    html: str
    text: str
    notes: str = ""
    checks: CheckReport
    usage: Usage = Usage()


class SubjectLineSuggestions(ContractModel):
    items: list[SubjectLine]
    usage: Usage = Usage()


class PersonalisationSuggestion(ContractModel):
    where: str  # the passage it applies to, quoted
    field: str  # a merge field the workspace has
    suggestion: str
    example: str = ""


class PersonalisationSuggestions(ContractModel):
    items: list[PersonalisationSuggestion]
    usage: Usage = Usage()


# -- errors shared across the parts ------------------------------------------------


class ModelUnavailable(Exception):
    """No configured model provider answered, or the workspace has none configured.

    The message says which, in words a person can act on."""


class SpamCheckUnavailable(Exception):
    """SpamAssassin (spamd) could not be reached or did not answer in time."""


# -- the seams between parts ---------------------------------------------------------


class CampaignResult(ContractModel):
    """One sent campaign's results, for the performance analyst."""

    campaign_id: uuid.UUID
    name: str
    subject: str
    sent_at: str  # ISO 8601
    delivered: int
    unique_opens: int  # human opens (machine opens excluded)
    unique_clicks: int
    unsubscribes: int
    complaints: int
    bounces: int


class CampaignResults(Protocol):
    """Reads a workspace's own campaign results (newest first)."""

    async def recent(self, workspace_id: uuid.UUID, limit: int = 20) -> list[CampaignResult]: ...


class UsageSink(Protocol):
    """Records what a workspace's model calls cost (maily.ai.providers implements it).

    `messages` are the pydantic-ai messages of one agent run; the sink reads each
    ModelResponse's usage, model and provider, stores them and returns the totals."""

    async def record(
        self, workspace_id: uuid.UUID, task_kind: TaskKind, messages: Sequence[ModelMessage]
    ) -> Usage: ...


class SpamChecker(Protocol):
    """Scores a whole RFC 5322 message with SpamAssassin (maily.ai.checks.spam)."""

    async def check(self, message: bytes) -> SpamReport: ...
