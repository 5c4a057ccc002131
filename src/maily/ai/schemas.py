"""Request and response models of the AI assistant's HTTP API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from maily.kit.schemas import ORMSchema, Schema

Brief = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8_000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
Language = Annotated[str, StringConstraints(strip_whitespace=True, max_length=35)]


class BudgetIn(Schema):
    max_steps: int = Field(12, ge=1, le=100, description="Agent runs, all agents together")
    max_tokens: int = Field(60_000, ge=1_000, le=2_000_000, description="Input + output tokens")


class _TaskIn(Schema):
    budget: BudgetIn | None = None


class DraftIn(_TaskIn):
    brief: Brief
    audience: Short = ""
    tone: Short = ""
    language: Language = "en"
    subject_variants: int = Field(5, ge=1, le=10)


class RevisionIn(_TaskIn):
    """Revise a body given here (`mjml`) or a stored template's current version (`template_id`)."""

    mode: Literal["rewrite", "shorten", "translate", "tone"]
    mjml: Body | None = None
    template_id: uuid.UUID | None = None
    subject: Annotated[str, StringConstraints(max_length=2000)] = ""
    target_language: Language = ""
    tone: Short = ""
    instructions: Annotated[str, StringConstraints(max_length=4_000)] = ""

    @model_validator(mode="after")
    def _one_source(self) -> RevisionIn:
        if (self.mjml is None) == (self.template_id is None):
            raise ValueError("give either mjml or template_id")
        if self.mode == "translate" and not self.target_language:
            raise ValueError("translate needs target_language")
        if self.mode == "tone" and not self.tone:
            raise ValueError("tone needs tone")
        return self


class SubjectLinesIn(_TaskIn):
    brief: Brief = Field(description="A brief or the body's text")
    count: int = Field(5, ge=1, le=10)
    language: Language = "en"


class PersonalisationIn(_TaskIn):
    mjml: Body
    fields: list[Annotated[str, StringConstraints(max_length=100)]] | None = Field(
        None,
        max_length=200,
        description="Merge fields to use; unset means every field the workspace has",
    )


class AIEventOut(Schema):
    task_id: uuid.UUID
    seq: int
    kind: str
    agent: str
    message: str
    data: dict[str, Any] | None = None


class AITaskOut(Schema):
    """A finished task: its progress events, the stored suggestion and the typed result."""

    task_id: uuid.UUID
    suggestion_id: uuid.UUID
    events: list[AIEventOut]
    result: dict[str, Any]


class SuggestionOut(ORMSchema):
    id: uuid.UUID
    task_id: uuid.UUID
    kind: str
    status: Literal["ready", "accepted", "discarded"]
    request: dict[str, Any]
    result: dict[str, Any]
    created_by: uuid.UUID | None
    template_id: uuid.UUID | None
    created_at: datetime
    decided_at: datetime | None


class AcceptIn(Schema):
    subject_index: int | None = Field(
        None, ge=0, le=9, description="Which ranked subject line of a draft to use (default: 0)"
    )
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = Field(None, description="The new template's name; unset: made from the task")


class AcceptedOut(Schema):
    template_id: uuid.UUID
    suggestion: SuggestionOut
