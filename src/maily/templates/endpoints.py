"""HTTP routes for templates, layouts and blocks, their versions, previews and validation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from maily.api.deps import SessionDep, SettingsDep
from maily.kit.pagination import Page, PageParams, make_page, page_params
from maily.models import Template, TemplateVersion
from maily.templates import schemas
from maily.templates.auth import TemplatesRead, TemplatesWrite
from maily.templates.service import TemplateService

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}", tags=["templates"])
Paging = Annotated[PageParams, Depends(page_params)]
VersionNumber = Annotated[int, Path(ge=1, le=2_147_483_647, description="Version number")]
TEMPLATE_ERRORS: dict[int | str, dict[str, str]] = {
    422: {"description": "The template does not compile or render; details name the line"}
}


def _detail(template: Template, version: TemplateVersion) -> schemas.TemplateDetail:
    return schemas.TemplateDetail(
        **schemas.TemplateOut.model_validate(template).model_dump(),
        source=version.source,
        subject=version.subject,
        preheader=version.preheader,
        links=version.links,
    )


@router.get("/templates", operation_id="templates_list")
async def list_templates(
    ctx: TemplatesRead,
    paging: Paging,
    session: SessionDep,
    settings: SettingsDep,
    role: Annotated[schemas.TemplateRole | None, Query(description="Only this role")] = None,
) -> Page[schemas.TemplateOut]:
    rows = await TemplateService(session, settings).list_templates(ctx, paging, role)
    return make_page([schemas.TemplateOut.model_validate(r) for r in rows], paging, lambda t: t.id)


@router.post(
    "/templates",
    operation_id="templates_create",
    status_code=status.HTTP_201_CREATED,
    responses=TEMPLATE_ERRORS,
)
async def create_template(
    body: schemas.TemplateCreate, ctx: TemplatesWrite, session: SessionDep, settings: SettingsDep
) -> schemas.TemplateDetail:
    """Save a template, layout or block as its version 1. It must compile and render
    with sample data; otherwise 422 with details naming the line."""
    service = TemplateService(session, settings)
    template = await service.create(ctx, body)
    return _detail(template, await service.current(ctx, template))


@router.post("/templates/validate", operation_id="templates_validate", responses=TEMPLATE_ERRORS)
async def validate_template(
    body: schemas.ValidateRequest, ctx: TemplatesWrite, session: SessionDep, settings: SettingsDep
) -> schemas.RenderedOut:
    """Compile and render with sample data without saving anything."""
    return await TemplateService(session, settings).validate(ctx, body)


@router.get("/templates/{template_id}", operation_id="templates_get")
async def get_template(
    template_id: uuid.UUID, ctx: TemplatesRead, session: SessionDep, settings: SettingsDep
) -> schemas.TemplateDetail:
    service = TemplateService(session, settings)
    template = await service.get(ctx, template_id)
    return _detail(template, await service.current(ctx, template))


@router.patch(
    "/templates/{template_id}", operation_id="templates_update", responses=TEMPLATE_ERRORS
)
async def update_template(
    template_id: uuid.UUID,
    body: schemas.TemplateUpdate,
    ctx: TemplatesWrite,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.TemplateDetail:
    """Rename, or save new content as the next version (earlier versions are kept)."""
    service = TemplateService(session, settings)
    template = await service.update(ctx, template_id, body)
    return _detail(template, await service.current(ctx, template))


@router.delete(
    "/templates/{template_id}",
    operation_id="templates_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "A layout still used by templates"}},
)
async def delete_template(
    template_id: uuid.UUID, ctx: TemplatesWrite, session: SessionDep, settings: SettingsDep
) -> None:
    """Delete a template and all its versions."""
    await TemplateService(session, settings).delete(ctx, template_id)


@router.get("/templates/{template_id}/versions", operation_id="template_versions_list")
async def list_versions(
    template_id: uuid.UUID,
    ctx: TemplatesRead,
    paging: Paging,
    session: SessionDep,
    settings: SettingsDep,
) -> Page[schemas.VersionSummary]:
    """Every saved version, newest first."""
    rows = await TemplateService(session, settings).versions(ctx, template_id, paging)
    items = [schemas.VersionSummary.model_validate(r) for r in rows]
    return make_page(items, paging, lambda item: item.id)


@router.get("/templates/{template_id}/versions/{version}", operation_id="template_versions_get")
async def get_version(
    template_id: uuid.UUID,
    version: VersionNumber,
    ctx: TemplatesRead,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.VersionOut:
    return schemas.VersionOut.model_validate(
        await TemplateService(session, settings).version(ctx, template_id, version)
    )


@router.post(
    "/templates/{template_id}/preview", operation_id="templates_preview", responses=TEMPLATE_ERRORS
)
async def preview_template(
    template_id: uuid.UUID,
    body: schemas.PreviewRequest,
    ctx: TemplatesRead,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.RenderedOut:
    """Render for one contact of the workspace (sample data without `contact_id`).
    Links are shown as written and no open pixel is added."""
    return await TemplateService(session, settings).preview(ctx, template_id, body)
