"""Business rules of the AI assistant's HTTP side: building tasks with the workspace's
brand and postal address, running them through `maily ai`, keeping what they propose
as suggestions, and turning an accepted suggestion into a template.

No SQL and no HTTP here. Generated content is only ever stored as a suggestion; it
becomes something that can be sent when a person accepts it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis

from maily.ai import contracts, wire
from maily.ai.client import AssistantClient
from maily.ai.repository import AIRepository
from maily.ai.schemas import (
    AcceptIn,
    DraftIn,
    PersonalisationIn,
    RevisionIn,
    SubjectLinesIn,
    _TaskIn,
)
from maily.auth.service import WorkspaceContext
from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.db.base import new_uuid
from maily.kit.errors import Conflict, Forbidden, MailyError, NotFound, Unprocessable
from maily.kit.logging import get_logger
from maily.kit.pagination import PageParams
from maily.models import AISuggestion, Template
from maily.realtime.channels import publish_live
from maily.templates.compiler import TemplateKind
from maily.templates.schemas import TemplateCreate
from maily.templates.service import TemplateService

# Merge fields every contact has; custom fields are `fields.<key>`.
STANDARD_FIELDS = ("email", "first_name", "last_name")

_log = get_logger("maily.ai")


@dataclass(frozen=True)
class Outcome:
    """How a task ended: a stored suggestion with its result, or an error."""

    task_id: uuid.UUID
    suggestion_id: uuid.UUID | None = None
    result: dict[str, Any] | None = None
    message: str = ""
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        if self.suggestion_id is not None:
            return {
                "task_id": str(self.task_id),
                "suggestion_id": str(self.suggestion_id),
                "result": self.result,
            }
        return {"task_id": str(self.task_id), "message": self.message, "reason": self.reason}


class TaskRun:
    """One task on its way through `maily ai`, after its first event arrived."""

    def __init__(
        self,
        service: AssistantService,
        ctx: WorkspaceContext,
        task: contracts.Task,
        request: dict[str, Any],
        stream: AsyncIterator[wire.TaskEventOut],
        first: wire.TaskEventOut,
    ) -> None:
        self.service = service
        self.ctx = ctx
        self.task = task
        self.request = request
        self._stream = stream
        self._first = first
        self.outcome: Outcome | None = None

    async def events(self, store: AsyncSession) -> AsyncIterator[wire.TaskEventOut]:
        """Every event of the task, the last one included; afterwards `outcome` says how
        it ended (the result is stored as a suggestion through `store` by then)."""
        event: wire.TaskEventOut | None = self._first
        try:
            while event is not None:
                await self._publish(event)
                if event.kind in ("result", "error"):
                    self.outcome = await self._finish(event, store)
                    yield event
                    return
                yield event
                event = await anext(self._stream, None)
            await self._broken("the AI service ended the task without a result", "ai_no_result")
        except MailyError as error:  # the stream broke after it began
            await self._broken(error.message, error.code)
        finally:
            closer = getattr(self._stream, "aclose", None)
            if closer is not None:
                await closer()

    async def _broken(self, message: str, reason: str) -> None:
        self.outcome = Outcome(self.task.task_id, message=message, reason=reason)
        await self.service.publish(
            self.ctx.workspace_id,
            {
                "type": "ai.progress",
                "task_id": str(self.task.task_id),
                "seq": None,
                "kind": "error",
                "agent": "",
                "message": message,
                "data": {"reason": reason},
            },
        )

    async def _finish(self, event: wire.TaskEventOut, store: AsyncSession) -> Outcome:
        if event.kind == "error":
            reason = str((event.data or {}).get("reason", "failed"))
            return Outcome(self.task.task_id, message=event.message, reason=reason)
        try:
            result = wire.RESULT_TYPES[self.task.kind].model_validate(event.data or {})
        except ValidationError as error:
            _log.warning("AI result is not valid", task_id=str(self.task.task_id), error=str(error))
            return Outcome(
                self.task.task_id,
                message="the AI service returned a result that is not valid; nothing was saved",
                reason="invalid_result",
            )
        payload = result.model_dump(mode="json")
        suggestion = await AIRepository(store).add_suggestion(
            AISuggestion(
                workspace_id=self.ctx.workspace_id,
                task_id=self.task.task_id,
                kind=self.task.kind,
                status="ready",
                request=self.request,
                result=payload,
                created_by=self.ctx.user_id,
            )
        )
        return Outcome(self.task.task_id, suggestion_id=suggestion.id, result=payload)

    async def _publish(self, event: wire.TaskEventOut) -> None:
        message = {"type": "ai.progress", **event.as_json()}
        if event.kind == "result":
            message["data"] = None  # the result is read from the suggestion, not pushed
        await self.service.publish(self.ctx.workspace_id, message)


class AssistantService:
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        client: AssistantClient | None = None,
        redis: Redis | None = None,
    ) -> None:
        self.session = session
        self.settings = settings
        self.client = client
        self.redis = redis
        self.repository = AIRepository(session)

    # -- building tasks ------------------------------------------------------------

    async def _common(self, ctx: WorkspaceContext, body: _TaskIn) -> dict[str, Any]:
        workspace = await self.repository.workspace(ctx.workspace_id)
        if workspace is None:
            raise NotFound("workspace not found")
        brand = dict(workspace.brand or {})
        brand["postal_address"] = workspace.postal_address
        values: dict[str, Any] = {
            "workspace_id": ctx.workspace_id,
            "task_id": new_uuid(),
            "brand": {k: v for k, v in brand.items() if k in contracts.Brand.model_fields},
        }
        if body.budget is not None:
            values["budget"] = body.budget.model_dump()
        return values

    def _task(self, values: dict[str, Any]) -> contracts.Task:
        try:
            return wire.TASK_ADAPTER.validate_python(values)
        except ValidationError as error:
            raise Unprocessable(wire.validation_message(error)) from error

    async def draft_task(self, ctx: WorkspaceContext, body: DraftIn) -> contracts.Task:
        values = await self._common(ctx, body)
        return self._task(
            {**values, **body.model_dump(exclude={"budget"}), "kind": "draft_campaign"}
        )

    async def subject_lines_task(
        self, ctx: WorkspaceContext, body: SubjectLinesIn
    ) -> contracts.Task:
        values = await self._common(ctx, body)
        return self._task(
            {**values, **body.model_dump(exclude={"budget"}), "kind": "subject_lines"}
        )

    async def revision_task(
        self, ctx: WorkspaceContext, body: RevisionIn
    ) -> tuple[contracts.Task, dict[str, Any]]:
        """The task, and what the suggestion should remember beyond it (the template)."""
        values = await self._common(ctx, body)
        fields = body.model_dump(exclude={"budget", "template_id"})
        extra: dict[str, Any] = {"template_kind": TemplateKind.mjml.value}
        if body.template_id is not None:
            if "templates:read" not in ctx.permissions:
                raise Forbidden("revising a stored template needs templates:read")
            templates = TemplateService(self.session, self.settings)
            template = await templates.get(ctx, body.template_id)
            version = await templates.current(ctx, template)
            fields["mjml"] = version.source
            fields["subject"] = body.subject or version.subject
            extra = {
                "template_id": str(template.id),
                "template_version": version.version,
                "template_kind": template.kind,
                "template_name": template.name,
            }
        return self._task({**values, **fields, "kind": "revise_template"}), extra

    async def personalisation_task(
        self, ctx: WorkspaceContext, body: PersonalisationIn
    ) -> contracts.Task:
        values = await self._common(ctx, body)
        fields = body.fields
        if fields is None:
            keys = await self.repository.field_keys(ctx.workspace_id)
            fields = [*STANDARD_FIELDS, *(f"fields.{key}" for key in keys)]
        return self._task(
            {**values, "mjml": body.mjml, "fields": fields, "kind": "personalisation"}
        )

    # -- running ---------------------------------------------------------------------

    async def start(
        self, ctx: WorkspaceContext, task: contracts.Task, extra: dict[str, Any] | None = None
    ) -> TaskRun:
        """Send the task and wait for its first event. Everything that stops a task from
        starting (service down, no model, a refused task) raises here, as an HTTP error."""
        assert self.client is not None, "running tasks needs the AI service client"
        stream = self.client.run(task)
        first = await anext(stream)  # raises the client's MailyErrors
        request = task.model_dump(mode="json", exclude={"brand", "workspace_id", "task_id"})
        request.update(extra or {})
        return TaskRun(self, ctx, task, request, stream, first)

    async def publish(self, workspace_id: uuid.UUID, message: dict[str, Any]) -> None:
        if self.redis is not None:
            await publish_live(
                self.redis,
                workspace_id,
                message,
                prefix=self.settings.analytics.live_channel_prefix,
            )

    # -- suggestions -------------------------------------------------------------------

    async def suggestions(
        self,
        ctx: WorkspaceContext,
        page: PageParams,
        status: str | None = None,
        kind: str | None = None,
    ) -> list[AISuggestion]:
        return await self.repository.suggestions(ctx.workspace_id, page, status, kind)

    async def suggestion(
        self, ctx: WorkspaceContext, suggestion_id: uuid.UUID, *, for_update: bool = False
    ) -> AISuggestion:
        found = await self.repository.suggestion(
            ctx.workspace_id, suggestion_id, for_update=for_update
        )
        if found is None:
            raise NotFound("suggestion not found")
        return found

    async def accept(
        self, ctx: WorkspaceContext, suggestion_id: uuid.UUID, body: AcceptIn
    ) -> tuple[Template, AISuggestion]:
        """Make a template of the suggestion (validated like any template) and mark it
        accepted. Needs templates:write besides ai:use."""
        if "templates:write" not in ctx.permissions:
            raise Forbidden(
                "accepting a suggestion creates a template, which needs templates:write"
            )
        suggestion = await self.suggestion(ctx, suggestion_id, for_update=True)
        if suggestion.status != "ready":
            raise Conflict(f"this suggestion was {suggestion.status} already")
        create = _template_of(suggestion, body)
        template = await TemplateService(self.session, self.settings).create(ctx, create)
        suggestion.status = "accepted"
        suggestion.template_id = template.id
        suggestion.decided_at = datetime.now(UTC)
        await self.session.flush()
        return template, suggestion

    async def discard(self, ctx: WorkspaceContext, suggestion_id: uuid.UUID) -> AISuggestion:
        suggestion = await self.suggestion(ctx, suggestion_id, for_update=True)
        if suggestion.status == "accepted":
            raise Conflict("this suggestion was accepted already; delete its template instead")
        if suggestion.status == "ready":
            suggestion.status = "discarded"
            suggestion.decided_at = datetime.now(UTC)
            await self.session.flush()
        return suggestion


def _name(prefix: str, text: str) -> str:
    words = " ".join(text.split())
    return f"{prefix}: {words[:80]}".rstrip(": ") if words else prefix


def _template_of(suggestion: AISuggestion, body: AcceptIn) -> TemplateCreate:
    request, result = suggestion.request, suggestion.result
    if suggestion.kind == "draft_campaign":
        draft = contracts.CampaignDraft.model_validate(result)
        index = body.subject_index or 0
        if index >= len(draft.subject_lines):
            raise Unprocessable(
                f"subject_index {index} is past the {len(draft.subject_lines)} subject lines"
            )
        return TemplateCreate(
            name=body.name or _name("AI draft", str(request.get("brief", ""))),
            kind=TemplateKind.mjml,
            source=draft.mjml,
            subject=draft.subject_lines[index].text,
            preheader=draft.subject_lines[index].preheader or draft.preheader,
        )
    if suggestion.kind == "revise_template":
        revised = contracts.RevisedTemplate.model_validate(result)
        kind = str(request.get("template_kind") or TemplateKind.mjml.value)
        base = str(request.get("template_name") or request.get("mode", "revision"))
        return TemplateCreate(
            name=body.name or _name("AI revision", base),
            kind=TemplateKind(kind),
            source=revised.mjml,
            subject=revised.subject,
        )
    raise Conflict(
        f"a {suggestion.kind.replace('_', ' ')} suggestion is not a template; "
        "use its text in a template or campaign"
    )
