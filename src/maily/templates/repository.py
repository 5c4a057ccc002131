"""All SQL of the templates domain, always scoped to one workspace."""

from __future__ import annotations

import uuid

from sqlalchemy import exists, func, select

from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams, paginate
from maily.models import Contact, CustomField, Template, TemplateVersion, Workspace


class TemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- templates ------------------------------------------------------------------

    async def get(self, workspace_id: uuid.UUID, template_id: uuid.UUID) -> Template | None:
        return await self.session.get(Template, (workspace_id, template_id))

    async def get_for_update(
        self, workspace_id: uuid.UUID, template_id: uuid.UUID
    ) -> Template | None:
        """Locked, so two saves of one template cannot both take the same version number."""
        query = (
            select(Template)
            .where(Template.workspace_id == workspace_id, Template.id == template_id)
            .with_for_update()
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_templates(
        self, workspace_id: uuid.UUID, page: PageParams, role: str | None = None
    ) -> list[Template]:
        query = select(Template).where(Template.workspace_id == workspace_id)
        if role is not None:
            query = query.where(Template.role == role)
        return list((await self.session.execute(paginate(query, Template.id, page))).scalars())

    async def add(self, template: Template, version: TemplateVersion) -> Template:
        self.session.add(template)
        await self.session.flush()
        version.template_id = template.id
        self.session.add(version)
        await self.session.flush()
        return template

    async def add_version(self, template: Template, version: TemplateVersion) -> None:
        template.current_version = version.version
        template.updated_at = func.now()
        self.session.add(version)
        await self.session.flush()
        await self.session.refresh(template, ["updated_at"])

    async def save(self, template: Template) -> Template:
        await self.session.flush()
        await self.session.refresh(template, ["updated_at"])
        return template

    async def delete(self, template: Template) -> None:
        await self.session.delete(template)
        await self.session.flush()

    async def block_name_taken(
        self, workspace_id: uuid.UUID, name: str, other_than: uuid.UUID | None = None
    ) -> bool:
        query = select(
            exists().where(
                Template.workspace_id == workspace_id,
                Template.role == "block",
                Template.name == name,
                Template.id != other_than if other_than else Template.id.is_not(None),
            )
        )
        return bool((await self.session.execute(query)).scalar())

    async def layout_in_use(self, workspace_id: uuid.UUID, layout_id: uuid.UUID) -> bool:
        query = select(
            exists().where(Template.workspace_id == workspace_id, Template.layout_id == layout_id)
        )
        return bool((await self.session.execute(query)).scalar())

    # -- versions -------------------------------------------------------------------

    async def get_version(
        self, workspace_id: uuid.UUID, template_id: uuid.UUID, version: int
    ) -> TemplateVersion | None:
        query = select(TemplateVersion).where(
            TemplateVersion.workspace_id == workspace_id,
            TemplateVersion.template_id == template_id,
            TemplateVersion.version == version,
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_versions(
        self, workspace_id: uuid.UUID, template_id: uuid.UUID, page: PageParams
    ) -> list[TemplateVersion]:
        """Newest first; versions' ids are time-ordered, so id order is version order."""
        query = select(TemplateVersion).where(
            TemplateVersion.workspace_id == workspace_id,
            TemplateVersion.template_id == template_id,
        )
        query = paginate(query, TemplateVersion.id, page, newest_first=True)
        return list((await self.session.execute(query)).scalars())

    async def block_sources(self, workspace_id: uuid.UUID) -> dict[str, str]:
        """Each block's newest source by the name templates include it by."""
        query = (
            select(Template.name, TemplateVersion.source)
            .join(
                TemplateVersion,
                (TemplateVersion.workspace_id == Template.workspace_id)
                & (TemplateVersion.template_id == Template.id)
                & (TemplateVersion.version == Template.current_version),
            )
            .where(Template.workspace_id == workspace_id, Template.role == "block")
        )
        return {name: source for name, source in await self.session.execute(query)}

    # -- what previews read ---------------------------------------------------------

    async def contact(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> Contact | None:
        return await self.session.get(Contact, (workspace_id, contact_id))

    async def field_types(self, workspace_id: uuid.UUID) -> dict[str, str]:
        query = select(CustomField.key, CustomField.type).where(
            CustomField.workspace_id == workspace_id
        )
        return {key: type_ for key, type_ in await self.session.execute(query)}

    async def workspace(self, workspace_id: uuid.UUID) -> Workspace | None:
        return await self.session.get(Workspace, workspace_id)
