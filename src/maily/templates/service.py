"""Business rules for templates: versions, layouts and blocks, validation, previews.

No SQL and no HTTP here. `load_compiled_template()` is what campaign and sender code
calls: it compiles a stored version once, with its layout and the workspace's blocks."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from maily.auth.service import WorkspaceContext
from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.errors import Conflict, NotFound, Unprocessable
from maily.kit.pagination import PageParams
from maily.models import Template, TemplateVersion
from maily.templates.compiler import (
    CompiledTemplate,
    RenderedMessage,
    TemplateKind,
    compile_template,
    has_content_block,
    locate_render_problem,
)
from maily.templates.errors import RenderError, TemplateProblem
from maily.templates.repository import TemplateRepository
from maily.templates.sandbox import RenderLimits
from maily.templates.schemas import (
    PreviewRequest,
    RenderedOut,
    TemplateCreate,
    TemplateRole,
    TemplateUpdate,
    ValidateRequest,
)
from maily.templates.variables import (
    campaign_variables,
    contact_variables,
    merge_variables,
    sample_contact,
    workspace_variables,
)

__all__ = [
    "CompiledVersion",
    "TemplateService",
    "limits_from_settings",
    "load_compiled_template",
]


@dataclass(frozen=True)
class Content:
    """What a version holds, before it is saved."""

    kind: TemplateKind
    role: TemplateRole
    source: str
    subject: str
    preheader: str
    layout_id: uuid.UUID | None


@dataclass(frozen=True)
class CompiledVersion:
    template_id: uuid.UUID
    version: int
    compiled: CompiledTemplate


def limits_from_settings(settings: Settings) -> RenderLimits:
    return RenderLimits(
        timeout_seconds=settings.templates.render_timeout_seconds,
        max_output_chars=settings.templates.max_output_chars,
    )


def _unprocessable(problem: TemplateProblem) -> Unprocessable:
    return Unprocessable(f"the template has a problem: {problem}", details=[problem.detail()])


def preview_urls(base_url: str) -> dict[str, str]:
    """Stand-ins for the per-message URLs a real send fills in."""
    return {
        "unsubscribe_url": f"{base_url}/preview/unsubscribe",
        "preferences_url": f"{base_url}/preview/preferences",
        "view_online_url": f"{base_url}/preview/view-online",
    }


async def _layout_and_blocks(
    repository: TemplateRepository, workspace_id: uuid.UUID, content: Content
) -> tuple[str | None, dict[str, str]]:
    layout_source = None
    if content.layout_id is not None:
        layout = await repository.get(workspace_id, content.layout_id)
        if layout is None or layout.role != TemplateRole.layout:
            raise NotFound("layout not found")
        if layout.kind != content.kind:
            raise Unprocessable(
                f"a {content.kind} template needs a {content.kind} layout; this one is {layout.kind}"
            )
        current = await repository.get_version(workspace_id, layout.id, layout.current_version)
        assert current is not None
        layout_source = current.source
    return layout_source, await repository.block_sources(workspace_id)


def _compile(
    content: Content,
    layout_source: str | None,
    blocks: Mapping[str, str],
    limits: RenderLimits,
) -> CompiledTemplate:
    """Compile a version's content for its role. A block is a fragment, so it is
    checked as HTML whatever markup it holds; a layout compiles on its own, its content
    block rendering empty."""
    kind = TemplateKind.html if content.role is TemplateRole.block else content.kind
    if content.role is TemplateRole.layout and not has_content_block(content.source):
        raise TemplateProblem("a layout needs {% block content %}{% endblock %} where templates go")
    return compile_template(
        content.source,
        kind,
        subject=content.subject,
        preheader=content.preheader,
        layout_source=layout_source if content.role is TemplateRole.template else None,
        blocks=blocks,
        limits=limits,
    )


async def load_compiled_template(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    template_id: uuid.UUID,
    *,
    version: int | None = None,
    limits: RenderLimits | None = None,
    subject: str | None = None,
    preheader: str | None = None,
) -> CompiledVersion:
    """Compile a stored version (the newest by default) with its layout's and the
    workspace's blocks' newest sources. Call once per campaign and render every message
    from the result. A campaign's own subject and preheader, when given (not None and
    not empty), replace the version's. NotFound for an unknown template, version or
    layout; TemplateProblem if it no longer compiles (say a block it includes was
    deleted, or the subject given has a syntax error)."""
    repository = TemplateRepository(session)
    template = await repository.get(workspace_id, template_id)
    if template is None:
        raise NotFound("template not found")
    stored = await repository.get_version(
        workspace_id, template_id, version or template.current_version
    )
    if stored is None:
        raise NotFound("template version not found")
    content = _content_of(template, stored)
    if subject:
        content = dataclasses.replace(content, subject=subject)
    if preheader:
        content = dataclasses.replace(content, preheader=preheader)
    layout_source, blocks = await _layout_and_blocks(repository, workspace_id, content)
    compiled = _compile(content, layout_source, blocks, limits or RenderLimits())
    return CompiledVersion(template.id, stored.version, compiled)


def _content_of(template: Template, version: TemplateVersion) -> Content:
    return Content(
        kind=TemplateKind(template.kind),
        role=TemplateRole(template.role),
        source=version.source,
        subject=version.subject,
        preheader=version.preheader,
        layout_id=version.layout_id,
    )


class TemplateService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.templates = TemplateRepository(session)
        self.limits = limits_from_settings(settings)

    # -- reading --------------------------------------------------------------------

    async def get(self, ctx: WorkspaceContext, template_id: uuid.UUID) -> Template:
        template = await self.templates.get(ctx.workspace_id, template_id)
        if template is None:
            raise NotFound("template not found")
        return template

    async def current(self, ctx: WorkspaceContext, template: Template) -> TemplateVersion:
        version = await self.templates.get_version(
            ctx.workspace_id, template.id, template.current_version
        )
        assert version is not None, "every template has its current version"
        return version

    async def list_templates(
        self, ctx: WorkspaceContext, page: PageParams, role: TemplateRole | None
    ) -> list[Template]:
        return await self.templates.list_templates(
            ctx.workspace_id, page, role.value if role else None
        )

    async def versions(
        self, ctx: WorkspaceContext, template_id: uuid.UUID, page: PageParams
    ) -> list[TemplateVersion]:
        await self.get(ctx, template_id)
        return await self.templates.list_versions(ctx.workspace_id, template_id, page)

    async def version(
        self, ctx: WorkspaceContext, template_id: uuid.UUID, number: int
    ) -> TemplateVersion:
        await self.get(ctx, template_id)
        version = await self.templates.get_version(ctx.workspace_id, template_id, number)
        if version is None:
            raise NotFound("template version not found")
        return version

    # -- checking -------------------------------------------------------------------

    async def check(
        self, ctx: WorkspaceContext, content: Content, contact: Mapping[str, Any] | None = None
    ) -> tuple[CompiledTemplate, RenderedMessage]:
        """Compile and render once with sample data (or `contact`); every problem is a
        422 whose details name the part and line."""
        layout_source, blocks = await _layout_and_blocks(self.templates, ctx.workspace_id, content)
        variables = await self._variables(ctx, contact)
        # In a worker thread: compiling and a render that runs to its time limit are
        # CPU work that must not stall the event loop.
        try:
            compiled = await asyncio.to_thread(
                _compile, content, layout_source, blocks, self.limits
            )
        except TemplateProblem as problem:
            raise _unprocessable(problem) from problem
        try:
            rendered = await asyncio.to_thread(_preview_render, compiled, variables)
        except RenderError as problem:
            if problem.part == "source":
                problem.line = await asyncio.to_thread(
                    locate_render_problem, content.source, variables, self.limits
                )
            raise _unprocessable(problem) from problem
        return compiled, rendered

    async def _variables(
        self, ctx: WorkspaceContext, contact: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        workspace = await self.templates.workspace(ctx.workspace_id)
        assert workspace is not None
        if contact is None:
            contact = sample_contact(await self.templates.field_types(ctx.workspace_id))
        return merge_variables(
            contact=contact,
            workspace=workspace_variables(workspace.name, workspace.postal_address),
            campaign=campaign_variables("Sample campaign", ""),
            **preview_urls(self.settings.api.external_url),
        )

    async def validate(self, ctx: WorkspaceContext, body: ValidateRequest) -> RenderedOut:
        content = Content(
            body.kind, body.role, body.source, body.subject, body.preheader, body.layout_id
        )
        compiled, rendered = await self.check(ctx, content)
        return _out(rendered, compiled)

    async def preview(
        self, ctx: WorkspaceContext, template_id: uuid.UUID, body: PreviewRequest
    ) -> RenderedOut:
        template = await self.get(ctx, template_id)
        version = (
            await self.version(ctx, template_id, body.version)
            if body.version
            else await self.current(ctx, template)
        )
        content = _content_of(template, version)
        if body.subject is not None:
            content = Content(
                content.kind,
                content.role,
                content.source,
                body.subject,
                content.preheader,
                content.layout_id,
            )
        contact = None
        if body.contact_id is not None:
            row = await self.templates.contact(ctx.workspace_id, body.contact_id)
            if row is None:
                raise NotFound("contact not found")
            contact = contact_variables(
                row.email, row.first_name, row.last_name, row.fields, row.tags
            )
        compiled, rendered = await self.check(ctx, content, contact)
        return _out(rendered, compiled)

    # -- writing --------------------------------------------------------------------

    async def _vet(
        self, ctx: WorkspaceContext, content: Content, name: str, own: uuid.UUID | None
    ) -> list[str]:
        if content.role is not TemplateRole.template and content.layout_id is not None:
            raise Unprocessable("only templates use a layout; layouts and blocks cannot")
        if content.role is TemplateRole.block and await self.templates.block_name_taken(
            ctx.workspace_id, name, own
        ):
            raise Conflict(f'a block named "{name}" exists already; blocks are included by name')
        if own is not None and content.layout_id == own:
            raise Unprocessable("a template cannot be its own layout")
        compiled, _ = await self.check(ctx, content)
        return compiled.links

    async def create(self, ctx: WorkspaceContext, body: TemplateCreate) -> Template:
        content = Content(
            body.kind, body.role, body.source, body.subject, body.preheader, body.layout_id
        )
        links = await self._vet(ctx, content, body.name, None)
        template = Template(
            workspace_id=ctx.workspace_id,
            name=body.name,
            kind=body.kind.value,
            role=body.role.value,
            layout_id=body.layout_id,
            current_version=1,
        )
        return await self.templates.add(template, self._version(ctx, content, 1, links))

    def _version(
        self, ctx: WorkspaceContext, content: Content, number: int, links: list[str]
    ) -> TemplateVersion:
        return TemplateVersion(
            workspace_id=ctx.workspace_id,
            version=number,
            source=content.source,
            subject=content.subject,
            preheader=content.preheader,
            layout_id=content.layout_id,
            links=links,
            created_by=ctx.user_id,
        )

    async def update(
        self, ctx: WorkspaceContext, template_id: uuid.UUID, body: TemplateUpdate
    ) -> Template:
        template = await self.templates.get_for_update(ctx.workspace_id, template_id)
        if template is None:
            raise NotFound("template not found")
        current = await self.current(ctx, template)
        layout_id = None if body.clear_layout else (body.layout_id or current.layout_id)
        content = Content(
            TemplateKind(template.kind),
            TemplateRole(template.role),
            current.source if body.source is None else body.source,
            current.subject if body.subject is None else body.subject,
            current.preheader if body.preheader is None else body.preheader,
            layout_id,
        )
        name = body.name or template.name
        links = current.links
        changed = content != _content_of(template, current)
        if changed or name != template.name:
            links = await self._vet(ctx, content, name, template.id)
        template.name = name
        if changed:
            template.layout_id = layout_id
            version = self._version(ctx, content, template.current_version + 1, links)
            version.template_id = template.id
            await self.templates.add_version(template, version)
            return template
        return await self.templates.save(template)

    async def delete(self, ctx: WorkspaceContext, template_id: uuid.UUID) -> None:
        template = await self.get(ctx, template_id)
        if template.role == TemplateRole.layout and await self.templates.layout_in_use(
            ctx.workspace_id, template.id
        ):
            raise Conflict("templates still use this layout; give them another one first")
        await self.templates.delete(template)


def _preview_render(compiled: CompiledTemplate, variables: Mapping[str, Any]) -> RenderedMessage:
    """Links lead where they say and no open pixel is added: a preview is not a send."""
    return compiled.render(variables, click_url=lambda i: compiled.links[i], open_url=None)


def _out(rendered: RenderedMessage, compiled: CompiledTemplate) -> RenderedOut:
    return RenderedOut(
        subject=rendered.subject, html=rendered.html, text=rendered.text, links=compiled.links
    )
