"""HTTP routes for signup forms: their definitions under /api/v1, and the public pages
visitors use (hosted form, submission, double opt-in confirmation) outside it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from maily.api.deps import SessionDep, SettingsDep, State
from maily.api.errors import error_body
from maily.contacts import subscriptions
from maily.contacts.auth import ContactsRead, ContactsWrite
from maily.contacts.forms import rendering, schemas
from maily.contacts.forms.service import FormService, InvalidSubmission, PublicForm
from maily.kit.errors import MailyError, NotFound, TooManyRequests
from maily.kit.pagination import Page, PageParams, make_page, page_params
from maily.models import SignupForm

Paging = Annotated[PageParams, Depends(page_params)]

# -- definitions ----------------------------------------------------------------------

api = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/forms", tags=["forms"])


def _out(form: SignupForm, base_url: str) -> schemas.FormWithURL:
    return schemas.FormWithURL(
        **schemas.FormOut.model_validate(form).model_dump(),
        hosted_url=rendering.form_url(base_url, form.public_id),
    )


@api.get("", operation_id="forms_list")
async def list_forms(
    ctx: ContactsRead, paging: Paging, session: SessionDep, settings: SettingsDep
) -> Page[schemas.FormWithURL]:
    forms = await FormService(session).list_forms(ctx, paging)
    base = settings.api.external_url
    return make_page([_out(f, base) for f in forms], paging, lambda f: f.id)


@api.post("", operation_id="forms_create", status_code=status.HTTP_201_CREATED)
async def create_form(
    body: schemas.FormCreate, ctx: ContactsWrite, session: SessionDep, settings: SettingsDep
) -> schemas.FormWithURL:
    """Create a signup form for a list; it is live at `hosted_url` at once when enabled."""
    return _out(await FormService(session).create(ctx, body), settings.api.external_url)


@api.get("/{form_id}", operation_id="forms_get")
async def get_form(
    form_id: uuid.UUID, ctx: ContactsRead, session: SessionDep, settings: SettingsDep
) -> schemas.FormWithURL:
    return _out(await FormService(session).get(ctx, form_id), settings.api.external_url)


@api.patch("/{form_id}", operation_id="forms_update")
async def update_form(
    form_id: uuid.UUID,
    body: schemas.FormUpdate,
    ctx: ContactsWrite,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.FormWithURL:
    form = await FormService(session).update(ctx, form_id, body)
    return _out(form, settings.api.external_url)


@api.delete("/{form_id}", operation_id="forms_delete", status_code=status.HTTP_204_NO_CONTENT)
async def delete_form(form_id: uuid.UUID, ctx: ContactsWrite, session: SessionDep) -> None:
    """Delete a form; its address stops working. Contacts it brought in stay."""
    await FormService(session).delete(ctx, form_id)


@api.get("/{form_id}/snippet", operation_id="forms_snippet")
async def form_snippet(
    form_id: uuid.UUID, ctx: ContactsRead, session: SessionDep, settings: SettingsDep
) -> schemas.FormSnippet:
    """The form as HTML to paste into any web page. It carries no style of its own
    (the page's applies) and posts to Maily, which answers with the thank-you page."""
    service = FormService(session)
    form = await service.get(ctx, form_id)
    # Rendered from the definition even while disabled, so it can be prepared first.
    inputs = await service.inputs(form)
    url = rendering.form_url(settings.api.external_url, form.public_id)
    return schemas.FormSnippet(
        html=rendering.snippet(public_id=form.public_id, action_url=url, inputs=inputs), url=url
    )


# -- public pages ---------------------------------------------------------------------

public = APIRouter(include_in_schema=False)

# A submission is a few fields; anything bigger is not a person filling in a form.
MAX_SUBMISSION_BYTES = 64 * 1024


@dataclass(frozen=True)
class SubmissionLimits:
    """Submissions allowed per client IP (across forms) and per form. The per-form
    budget caps what a botnet with many addresses can do to one form, and so the
    confirmation mail it could make Maily send to strangers."""

    per_client: int = 20
    per_client_window_seconds: int = 600
    per_form: int = 600
    per_form_window_seconds: int = 60


def submission_limits() -> SubmissionLimits:
    return SubmissionLimits()


Limits = Annotated[SubmissionLimits, Depends(submission_limits)]

_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _html(
    body: str, status_code: int = 200, redirect_url: str | None = None, **headers: str
) -> HTMLResponse:
    return HTMLResponse(
        body,
        status_code=status_code,
        headers={
            **_SECURITY_HEADERS,
            "Content-Security-Policy": rendering.content_security_policy(redirect_url),
            "Cache-Control": "no-store",
            **headers,
        },
    )


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _wants_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/json"


def _not_found_page() -> HTMLResponse:
    page = rendering.message(
        "Form not available", "This form does not exist or is closed for signups."
    )
    return _html(page, status.HTTP_404_NOT_FOUND)


async def _read_capped(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_SUBMISSION_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SUBMISSION_BYTES:
            return None
    return bytes(body)


def _parse(content: bytes, as_json: bool) -> schemas.Submission:
    """A form-encoded or JSON body as a Submission; InvalidSubmission when it is not one."""
    data: Any
    try:
        if as_json:
            data = json.loads(content)
        else:
            pairs = parse_qsl(
                content.decode("utf-8"),
                keep_blank_values=True,
                max_num_fields=schemas.MAX_FORM_FIELDS * 3,
            )
            data = {"fields": {}}
            for name, value in pairs:
                key = name.removeprefix("fields.")
                target = data["fields"] if key != name else data
                target.setdefault(key, value)  # the first of repeated names counts
        return schemas.Submission.model_validate(data)
    except (ValueError, UnicodeDecodeError) as exc:  # ValidationError is a ValueError
        errors = {"email": "The form could not be read; please fill it in again."}
        if isinstance(exc, ValidationError):
            errors = {
                ".".join(str(p) for p in err["loc"]) or "email": "Too long or not valid."
                for err in exc.errors()
            }
        raise InvalidSubmission(errors) from exc


async def _spend(state: State, key: str, limit: int, window: int) -> None:
    if not state.settings.rate_limit.enabled:
        return
    result = await state.rate_limiter.hit(key, limit, window)
    if not result.allowed:
        raise TooManyRequests(result.retry_after_seconds)


def _error_response(request: Request, exc: MailyError, as_json: bool) -> Response:
    if as_json:
        return JSONResponse(
            error_body(request, exc.code, exc.message, exc.details),
            status_code=exc.status_code,
            headers=exc.headers,
        )
    retry = exc.headers.get("Retry-After", "")
    page = rendering.message(
        "Please try again later", f"Too many signups from here just now. Try again in {retry} s."
    )
    return _html(page, exc.status_code, **exc.headers)


def _thank_you(public: PublicForm) -> str:
    form = public.form
    if form.success_message:
        return form.success_message
    if public.double_opt_in:
        return (
            "Almost done: we sent you an email. Follow the link in it to confirm your subscription."
        )
    return "Thank you for subscribing."


@public.get("/f/{public_id}", response_class=HTMLResponse)
async def hosted_form(public_id: str, session: SessionDep) -> Response:
    """The form's own page, for sharing as a link."""
    try:
        form = await FormService(session).public_form(public_id)
    except NotFound:
        return _not_found_page()
    return _html(
        rendering.page(
            public_id=form.form.public_id,
            title=form.form.title,
            description=form.form.description,
            inputs=form.inputs,
        ),
        redirect_url=form.form.redirect_url,
    )


@public.post("/f/{public_id}")
async def submit_form(
    public_id: str, request: Request, session: SessionDep, state: State, limits: Limits
) -> Response:
    """A visitor's signup, form-encoded (the hosted page, the snippet) or JSON.

    Every accepted submission gets the same answer (the thank-you page, the redirect, or
    {"status": "accepted"}), whether the address was new, subscribed already, suppressed
    or sent by a bot, so nothing about an address can be learnt here."""
    as_json = _wants_json(request)
    ip = _client_ip(request)
    service = FormService(session)
    try:
        await _spend(state, f"form:ip:{ip}", limits.per_client, limits.per_client_window_seconds)
        public_form = await service.public_form(public_id)
        await _spend(
            state,
            f"form:form:{public_form.form.id}",
            limits.per_form,
            limits.per_form_window_seconds,
        )
    except NotFound as exc:
        return _error_response(request, exc, True) if as_json else _not_found_page()
    except TooManyRequests as exc:
        return _error_response(request, exc, as_json)

    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if not as_json and content_type != "application/x-www-form-urlencoded":
        return JSONResponse(
            error_body(
                request,
                "unsupported_media_type",
                "send application/x-www-form-urlencoded or application/json",
            ),
            status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    content = await _read_capped(request)
    if content is None:
        return JSONResponse(
            error_body(request, "too_large", "the submission is too large"),
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        )

    form = public_form.form
    try:
        submission = _parse(content, as_json)
        await service.submit(
            public_form, submission, ip=ip, user_agent=request.headers.get("user-agent")
        )
    except InvalidSubmission as exc:
        if as_json:
            return _error_response(request, exc, True)
        values = _echo(content)
        page = rendering.page(
            public_id=form.public_id,
            title=form.title,
            description=form.description,
            inputs=public_form.inputs,
            values=values,
            errors=exc.errors,
        )
        return _html(page, exc.status_code, redirect_url=form.redirect_url)

    message = _thank_you(public_form)
    if as_json:
        return JSONResponse({"status": "accepted", "message": message})
    if form.redirect_url:
        return RedirectResponse(form.redirect_url, status_code=status.HTTP_303_SEE_OTHER)
    return _html(rendering.message(form.title, message))


def _echo(content: bytes) -> dict[str, str]:
    """What the visitor typed, to fill the form in again next to its errors."""
    try:
        pairs = parse_qsl(content.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except (ValueError, UnicodeDecodeError):
        return {}
    return {name: value[:2000] for name, value in reversed(pairs) if name != "url"}


@public.get("/confirm/{token}", response_class=HTMLResponse)
async def confirm_subscription(token: str, request: Request, session: SessionDep) -> Response:
    """The link in the double opt-in mail: following it confirms the subscription."""
    try:
        mailing_list = await FormService(session).confirm(
            token[:200], ip=_client_ip(request), user_agent=request.headers.get("user-agent")
        )
    except subscriptions.ConfirmationUsed as exc:
        page = rendering.message(
            "Already confirmed", "This link was used already: your subscription is confirmed."
        )
        return _html(page, exc.status_code)
    except subscriptions.ConfirmationExpired as exc:
        page = rendering.message(
            "Link expired",
            "This confirmation link has expired. Please sign up again to get a new one.",
        )
        return _html(page, exc.status_code)
    except MailyError as exc:  # invalid token, withdrawn or suppressed since
        page = rendering.message(
            "Link not valid", "This confirmation link is not valid or no longer applies."
        )
        return _html(page, exc.status_code)
    # Private lists' names are the team's own words; only public ones are shown.
    named = f" to {mailing_list.name}" if mailing_list.visibility == "public" else ""
    page = rendering.message(
        "Subscription confirmed", f"Thank you: your subscription{named} is confirmed."
    )
    return _html(page)


router = APIRouter()
router.include_router(api)
router.include_router(public)
