"""Signup form rules: definitions per list, and what a visitor's submission does."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from maily.auth.service import WorkspaceContext
from maily.contacts import subscriptions
from maily.contacts.addresses import InvalidAddress, normalize_email
from maily.contacts.fields import FieldSpec, FieldType, InvalidFieldValue, coerce
from maily.contacts.forms import schemas
from maily.contacts.forms.repository import FormContactRepository, SignupFormRepository
from maily.kit.db import AsyncSession
from maily.kit.errors import NotFound, Unprocessable
from maily.kit.pagination import PageParams
from maily.models import Contact, MailingList, SignupForm

# A contact that a double opt-in signup creates must not be mailable before it confirms
# (the address may be someone else's): segments send to status 'subscribed', so it
# starts 'unsubscribed', and confirming lifts that. Contacts have no 'unconfirmed'
# status (yet); when they do, this is the one line to change.
PENDING_CONTACT_STATUS = "unsubscribed"

_INPUT_KIND = {
    FieldType.text: "text",
    FieldType.number: "number",
    FieldType.date: "date",
    FieldType.boolean: "checkbox",
    FieldType.choice: "select",
}


class InvalidSubmission(Unprocessable):
    """A visitor's submission the form cannot take; `errors` maps input names to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(
            "the submission is not valid",
            details=[{"loc": [name], "message": message} for name, message in errors.items()],
        )
        self.errors = errors


@dataclass(frozen=True)
class FormInput:
    """One question as visitors see it."""

    key: str
    # The HTML input name: the key itself, or fields.<key> for a custom field.
    name: str
    label: str
    required: bool
    # text | number | date | checkbox | select
    kind: str
    choices: tuple[str, ...] = ()
    spec: FieldSpec | None = None


@dataclass(frozen=True)
class PublicForm:
    """An enabled form with what rendering and submitting it need."""

    form: SignupForm
    mailing_list: MailingList
    inputs: list[FormInput] = field(default_factory=list)

    @property
    def double_opt_in(self) -> bool:
        return self.mailing_list.opt_in == "double"


def new_public_id() -> str:
    return secrets.token_urlsafe(12)  # 96 random bits: not guessable, short in a URL


class FormService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.forms = SignupFormRepository(session)
        self.contacts = FormContactRepository(session)

    # -- definitions (the team, through the API) ----------------------------------

    async def get(self, ctx: WorkspaceContext, form_id: uuid.UUID) -> SignupForm:
        form = await self.forms.get(ctx.workspace_id, form_id)
        if form is None:
            raise NotFound("form not found")
        return form

    async def list_forms(self, ctx: WorkspaceContext, page: PageParams) -> list[SignupForm]:
        return await self.forms.list(ctx.workspace_id, page)

    async def create(self, ctx: WorkspaceContext, body: schemas.FormCreate) -> SignupForm:
        await self._check_list(ctx.workspace_id, body.list_id)
        await self._check_fields(ctx.workspace_id, body.fields)
        return await self.forms.add(
            SignupForm(
                workspace_id=ctx.workspace_id,
                public_id=new_public_id(),
                **body.model_dump(mode="json", exclude={"list_id"}),
                list_id=body.list_id,
            )
        )

    async def update(
        self, ctx: WorkspaceContext, form_id: uuid.UUID, body: schemas.FormUpdate
    ) -> SignupForm:
        form = await self.get(ctx, form_id)
        changes = body.model_dump(mode="json", exclude_unset=True)
        if body.list_id is not None:
            await self._check_list(ctx.workspace_id, body.list_id)
            changes["list_id"] = body.list_id
        if body.fields is not None:
            await self._check_fields(ctx.workspace_id, body.fields)
        for key, value in changes.items():
            # null means "unchanged", except for the one optional column.
            if value is not None or key == "redirect_url":
                setattr(form, key, value)
        return await self.forms.save(form)

    async def delete(self, ctx: WorkspaceContext, form_id: uuid.UUID) -> None:
        await self.forms.delete(await self.get(ctx, form_id))

    async def _check_list(self, workspace_id: uuid.UUID, list_id: uuid.UUID) -> None:
        if await self.forms.get_list(workspace_id, list_id) is None:
            raise NotFound("list not found")

    async def _check_fields(self, workspace_id: uuid.UUID, fields: list[schemas.FormField]) -> None:
        custom = {f.key for f in fields} - schemas.STANDARD_FIELDS.keys()
        unknown = custom - (await self.forms.custom_fields(workspace_id, custom)).keys()
        if unknown:
            raise Unprocessable(
                f"no such custom field in this workspace: {', '.join(sorted(unknown))}",
                details=[
                    {"loc": ["body", "fields"], "message": f"unknown field {k}"}
                    for k in sorted(unknown)
                ],
            )

    # -- the public side (visitors, no account) -------------------------------------

    async def public_form(self, public_id: str) -> PublicForm:
        """An enabled form by its public id; NotFound for unknown and disabled ones alike."""
        form = await self.forms.get_public(public_id)
        if form is None or not form.enabled:
            raise NotFound("form not found")
        mailing_list = await self.forms.get_list(form.workspace_id, form.list_id)
        assert mailing_list is not None  # the list's deletion cascades to its forms
        return PublicForm(form, mailing_list, await self.inputs(form))

    async def inputs(self, form: SignupForm) -> list[FormInput]:
        definitions = [schemas.FormField.model_validate(f) for f in form.fields]
        custom = await self.forms.custom_fields(
            form.workspace_id, {f.key for f in definitions} - schemas.STANDARD_FIELDS.keys()
        )
        inputs = []
        for definition in definitions:
            if definition.key in schemas.STANDARD_FIELDS:
                label = schemas.STANDARD_FIELDS[definition.key]
                inputs.append(
                    FormInput(
                        key=definition.key,
                        name=definition.key,
                        label=definition.label or label,
                        required=definition.required,
                        kind="text",
                    )
                )
                continue
            custom_field = custom.get(definition.key)
            if custom_field is None:
                continue  # the field was deleted since: the form stops asking for it
            spec = FieldSpec(
                custom_field.key, FieldType(custom_field.type), tuple(custom_field.choices)
            )
            inputs.append(
                FormInput(
                    key=spec.key,
                    name=f"fields.{spec.key}",
                    label=definition.label or custom_field.label,
                    required=definition.required,
                    kind=_INPUT_KIND[spec.type],
                    choices=spec.choices,
                    spec=spec,
                )
            )
        return inputs

    async def submit(
        self,
        public: PublicForm,
        submission: schemas.Submission,
        *,
        ip: str | None,
        user_agent: str | None,
    ) -> None:
        """Take a visitor's submission. Its outcome is the same whether the address was
        new, subscribed already or suppressed, so the answer reveals nothing about it.
        Raises InvalidSubmission for what the visitor can correct."""
        if submission.url:
            return  # the honeypot was filled in: a bot; let it believe it succeeded
        email, values = _validated(public.inputs, submission)
        form = public.form
        workspace_id = form.workspace_id
        # Checked before a contact is created, so refused addresses leave no trace.
        if await subscriptions.is_address_suppressed(self.session, workspace_id, email):
            return
        new_values: dict[str, Any] = {
            "first_name": values.pop("first_name", None) or "",
            "last_name": values.pop("last_name", None) or "",
            "fields": {k: v for k, v in values.items() if v is not None},
            "source": "form",
        }
        if public.double_opt_in:
            new_values["status"] = PENDING_CONTACT_STATUS
        contact, created = await self.contacts.find_or_create(workspace_id, email, new_values)
        if not created:
            _fill_blanks(contact, new_values)
        try:
            await subscriptions.subscribe(
                self.session,
                workspace_id=workspace_id,
                contact=contact,
                mailing_list=public.mailing_list,
                source="form",
                ip=ip,
                user_agent=user_agent,
            )
        except subscriptions.AddressSuppressed:
            return  # suppressed between the check and now; the answer stays the same
        # The confirmation mail for a double opt-in list is the delivery layer's: it
        # mints its own token with subscriptions.issue_confirmation() when it sends.

    async def confirm(self, token: str, *, ip: str | None, user_agent: str | None) -> MailingList:
        """Complete a double opt-in; the list confirmed to (for the page to name)."""
        membership = await subscriptions.confirm(
            self.session, token=token, ip=ip, user_agent=user_agent
        )
        mailing_list = await self.forms.get_list(membership.workspace_id, membership.list_id)
        assert mailing_list is not None
        return mailing_list


def _validated(
    inputs: list[FormInput], submission: schemas.Submission
) -> tuple[str, dict[str, Any]]:
    """The normalised address and the values of the form's own questions (anything
    else sent is ignored: a visitor may set only what the form asks)."""
    errors: dict[str, str] = {}
    email = ""
    try:
        email = normalize_email(submission.email)
    except InvalidAddress:
        errors["email"] = "Enter a valid email address."
    values: dict[str, Any] = {}
    for item in inputs:
        raw: Any
        if item.spec is None:
            raw = getattr(submission, item.key)
        else:
            raw = submission.fields.get(item.key)
        try:
            value = coerce(item.spec, raw) if item.spec is not None else (raw.strip() or None)
        except InvalidFieldValue as exc:
            errors[item.name] = exc.reason[:1].upper() + exc.reason[1:] + "."
            continue
        # A required checkbox (consent to terms, say) must be ticked, not just answered.
        if item.required and (value is None or value is False):
            errors[item.name] = "This field is required."
        values[item.key] = value
    if errors:
        raise InvalidSubmission(errors)
    return email, values


def _fill_blanks(contact: Contact, values: dict[str, Any]) -> None:
    """Complete an existing contact without overwriting it: anyone can type someone
    else's address into a public form, so a signup must not rename a contact."""
    for key in ("first_name", "last_name"):
        if values[key] and not getattr(contact, key):
            setattr(contact, key, values[key])
    missing = {k: v for k, v in values["fields"].items() if k not in contact.fields}
    if missing:
        contact.fields = {**contact.fields, **missing}
