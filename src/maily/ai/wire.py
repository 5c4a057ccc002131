"""Between the gRPC messages (maily.ai.v1) and the contract models (maily.ai.contracts).

Both ends use these: the API turns a Task into its request, the service turns the
request back into the same Task (proto3's zero values meaning "the default"), and each
ProgressEvent travels as a TaskEvent whose data is JSON."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf.message import Message
from pydantic import BaseModel, TypeAdapter, ValidationError

from maily.ai import contracts
from maily.ai.v1 import assistant_pb2 as pb

TASK_ADAPTER: Final[TypeAdapter[contracts.Task]] = TypeAdapter(contracts.Task)

# The gRPC method of each task kind.
METHODS: Final[dict[contracts.TaskKind, str]] = {
    "draft_campaign": "DraftCampaign",
    "revise_template": "ReviseTemplate",
    "subject_lines": "SuggestSubjectLines",
    "personalisation": "SuggestPersonalisation",
}

# The typed result a task's last event carries.
RESULT_TYPES: Final[dict[contracts.TaskKind, type[BaseModel]]] = {
    "draft_campaign": contracts.CampaignDraft,
    "revise_template": contracts.RevisedTemplate,
    "subject_lines": contracts.SubjectLineSuggestions,
    "personalisation": contracts.PersonalisationSuggestions,
}

_REQUEST_KINDS: Final[dict[type[Message], contracts.TaskKind]] = {
    pb.DraftCampaignRequest: "draft_campaign",
    pb.ReviseTemplateRequest: "revise_template",
    pb.SubjectLinesRequest: "subject_lines",
    pb.PersonalisationRequest: "personalisation",
}


class InvalidTask(ValueError):
    """A request that does not make a valid task; the message says what is wrong."""


def validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        # A discriminated union puts the task kind first in the location; leave it out.
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in METHODS)
        parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
    return "; ".join(parts)


# -- Task -> request ---------------------------------------------------------------


def _brand(brand: contracts.Brand) -> pb.Brand:
    return pb.Brand(**brand.model_dump())


def _budget(budget: contracts.Budget) -> pb.Budget:
    return pb.Budget(max_steps=budget.max_steps, max_tokens=budget.max_tokens)


def request_of(task: contracts.Task) -> Message:
    """The request message of `task` (its method is METHODS[task.kind])."""
    common: dict[str, Any] = {
        "workspace_id": str(task.workspace_id),
        "task_id": str(task.task_id),
        "brand": _brand(task.brand),
        "budget": _budget(task.budget),
    }
    if isinstance(task, contracts.DraftCampaignTask):
        return pb.DraftCampaignRequest(
            brief=task.brief,
            audience=task.audience,
            tone=task.tone,
            language=task.language,
            subject_variants=task.subject_variants,
            **common,
        )
    if isinstance(task, contracts.ReviseTemplateTask):
        return pb.ReviseTemplateRequest(
            mode=task.mode,
            subject=task.subject,
            mjml=task.mjml,
            target_language=task.target_language,
            tone=task.tone,
            instructions=task.instructions,
            **common,
        )
    if isinstance(task, contracts.SubjectLinesTask):
        return pb.SubjectLinesRequest(
            brief=task.brief, count=task.count, language=task.language, **common
        )
    return pb.PersonalisationRequest(mjml=task.mjml, fields=list(task.fields), **common)


# -- request -> Task ---------------------------------------------------------------


def task_of(request: Message) -> contracts.Task:
    """The task a request asks for; InvalidTask (with a readable message) if it is not one.

    Empty strings and zeros are proto3's "not given" and become the task's defaults."""
    kind = _REQUEST_KINDS.get(type(request))
    if kind is None:
        raise InvalidTask(f"not a task request: {type(request).__name__}")
    values: dict[str, Any] = {"kind": kind}
    for field, value in request.ListFields():
        if field.name == "brand":
            values["brand"] = {f.name: v for f, v in value.ListFields()}
        elif field.name == "budget":
            values["budget"] = {f.name: v for f, v in value.ListFields() if v}
        elif field.name == "fields":
            values["fields"] = list(value)
        else:
            values[field.name] = value
    for required in ("workspace_id", "task_id"):
        values.setdefault(required, "")
    try:
        return TASK_ADAPTER.validate_python(values)
    except ValidationError as error:
        raise InvalidTask(validation_message(error)) from error


# -- events ------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskEventOut:
    """One event of a task as the API hands it on (HTTP, SSE, the live channel)."""

    task_id: uuid.UUID
    seq: int
    kind: str
    agent: str
    message: str
    data: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "task_id": str(self.task_id),
            "seq": self.seq,
            "kind": self.kind,
            "agent": self.agent,
            "message": self.message,
            "data": self.data,
        }


def event_message(task_id: uuid.UUID, seq: int, event: contracts.ProgressEvent) -> pb.TaskEvent:
    data = "" if event.data is None else json.dumps(event.data, default=str)
    return pb.TaskEvent(
        task_id=str(task_id),
        seq=seq,
        kind=event.kind,
        agent=event.agent,
        message=event.message,
        data_json=data,
    )


def event_of(message: pb.TaskEvent) -> TaskEventOut:
    data = json.loads(message.data_json) if message.data_json else None
    return TaskEventOut(
        task_id=uuid.UUID(message.task_id),
        seq=message.seq,
        kind=message.kind,
        agent=message.agent,
        message=message.message,
        data=data if isinstance(data, dict) else None if data is None else {"value": data},
    )
