"""All SQL for signup forms, and for finding or creating the contacts they bring in."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams, paginate
from maily.models import Contact, CustomField, MailingList, SignupForm


class SignupFormRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, workspace_id: uuid.UUID, form_id: uuid.UUID) -> SignupForm | None:
        return await self.session.get(SignupForm, (workspace_id, form_id))

    async def get_public(self, public_id: str) -> SignupForm | None:
        """A form by the id in its public URL; the only look-up without a workspace,
        since that id is all a visitor has."""
        query = select(SignupForm).where(SignupForm.public_id == public_id)
        return (await self.session.execute(query)).scalars().first()

    async def list(self, workspace_id: uuid.UUID, page: PageParams) -> list[SignupForm]:
        query = select(SignupForm).where(SignupForm.workspace_id == workspace_id)
        query = paginate(query, SignupForm.id, page)
        return list((await self.session.execute(query)).scalars())

    async def add(self, form: SignupForm) -> SignupForm:
        self.session.add(form)
        await self.session.flush()
        return form

    async def save(self, form: SignupForm) -> SignupForm:
        await self.session.flush()
        await self.session.refresh(form, ["updated_at"])
        return form

    async def delete(self, form: SignupForm) -> None:
        await self.session.delete(form)
        await self.session.flush()

    async def get_list(self, workspace_id: uuid.UUID, list_id: uuid.UUID) -> MailingList | None:
        return await self.session.get(MailingList, (workspace_id, list_id))

    async def custom_fields(
        self, workspace_id: uuid.UUID, keys: Collection[str]
    ) -> dict[str, CustomField]:
        if not keys:
            return {}
        query = select(CustomField).where(
            CustomField.workspace_id == workspace_id, CustomField.key.in_(list(keys))
        )
        return {f.key: f for f in (await self.session.execute(query)).scalars()}


class FormContactRepository:
    """Contacts as signups meet them: by normalised address, created when new."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find_or_create(
        self, workspace_id: uuid.UUID, email: str, values: dict[str, Any]
    ) -> tuple[Contact, bool]:
        """The contact with `email` (locked for this transaction), and whether it was
        created now with `values`. ON CONFLICT makes two simultaneous signups of one
        address meet on one row instead of one of them failing."""
        created = await self.session.execute(
            insert(Contact)
            .values(workspace_id=workspace_id, email=email, **values)
            .on_conflict_do_nothing(index_elements=["workspace_id", "email"])
            .returning(Contact.id)
        )
        is_new = created.first() is not None
        query = (
            select(Contact)
            .where(Contact.workspace_id == workspace_id, Contact.email == email)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        contact = (await self.session.execute(query)).scalar_one()
        return contact, is_new
