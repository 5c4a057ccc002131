"""The tracking pages that read PostgreSQL: the preference center and view online.

Both are reached by the unsubscribe token the message carried (one token, three
pages: `/u/`, `/p/`, `/v/`). The preference center changes nothing itself: leaving
some lists (or all) is an unsubscribe event on the stream, like every other
unsubscribe, applied by the analytics service with a consent record."""

from __future__ import annotations

import html
import uuid
from typing import TYPE_CHECKING

from maily.analytics.stream import EventKind, UnsubscribeChannel
from maily.campaigns.content import content_of
from maily.kit.errors import MailyError
from maily.kit.logging import get_logger
from maily.templates import (
    TemplateProblem,
    campaign_variables,
    contact_variables,
    limits_from_settings,
    load_compiled_template,
    merge_variables,
    workspace_variables,
)
from maily.tracking.http import Receive, Scope, Send, page, read_form, send_html, send_text
from maily.tracking.links import link_table_id, store_link_table
from maily.tracking.repository import PageDelivery, TrackingRepository
from maily.tracking.tokens import TokenKind

if TYPE_CHECKING:
    from maily.tracking.app import TrackingContext

__all__ = ["preferences_page", "view_online_page"]

_log = get_logger("maily.tracking.pages")


async def _delivery_of(context: TrackingContext, token: str) -> PageDelivery | None:
    payload = context.signer.verify(token)
    if payload is None or payload.kind is not TokenKind.unsubscribe:
        return None
    if context.sessionmaker is None:
        return None
    async with context.sessionmaker() as session:
        return await TrackingRepository(session).delivery(payload.delivery_id)


async def preferences_page(
    context: TrackingContext, token: str, scope: Scope, receive: Receive, send: Send
) -> None:
    method = scope["method"]
    if method not in ("GET", "HEAD", "POST"):
        await send_text(send, 405, "method not allowed\n", [(b"allow", b"GET, HEAD, POST")])
        return
    delivery = await _delivery_of(context, token)
    if delivery is None:
        await send_text(send, 404, "not found: this link is not valid\n")
        return
    assert context.sessionmaker is not None  # _delivery_of found none without it
    async with context.sessionmaker() as session:
        lists = await TrackingRepository(session).public_lists(
            delivery.workspace_id, delivery.contact_id
        )
    if method == "POST":
        form = await read_form(receive)
        if form is None:
            await send_text(send, 413, "the request body is too large\n")
            return
        everything = form.get("all", [""])[0] == "1"
        keep = {value for value in form.get("keep", [])}
        leaving: tuple[uuid.UUID, ...] = ()
        if not everything:
            leaving = tuple(
                item.id
                for item in lists
                if item.status != "unsubscribed" and item.id.hex not in keep
            )
            if not leaving:
                await send_html(send, 200, page("Preferences", "<h1>Nothing changed</h1>"))
                return
        event = context.event(
            EventKind.unsubscribe,
            delivery.id,
            scope,
            channel=UnsubscribeChannel.preferences,
            lists=leaving,
        )
        if not await context.record(event):
            await send_text(
                send,
                503,
                "your choices could not be recorded right now; please try again in a minute\n",
                [(b"retry-after", b"60")],
            )
            return
        if everything:
            message = "You are unsubscribed from everything we send."
        else:
            names = ", ".join(html.escape(item.name) for item in lists if item.id in leaving)
            message = f"You have left: {names}."
        await send_html(send, 200, page("Preferences saved", f"<h1>Saved</h1><p>{message}</p>"))
        return
    rows = "".join(
        "<li><label><input type=checkbox name=keep value="
        f'"{item.id.hex}"{" checked" if item.status != "unsubscribed" else " disabled"}> '
        f"<strong>{html.escape(item.name)}</strong>"
        + (" (unsubscribed)" if item.status == "unsubscribed" else "")
        + (f"<br><small>{html.escape(item.description)}</small>" if item.description else "")
        + "</label></li>"
        for item in lists
    )
    body = (
        "<h1>Your email preferences</h1>"
        f"<p>For {html.escape(delivery.email)}.</p>"
        + (
            f'<form method="post"><ul>{rows}</ul><button type=submit>Save</button></form>'
            if lists
            else ""
        )
        + '<form method="post"><input type=hidden name=all value="1">'
        "<button type=submit>Unsubscribe from everything</button></form>"
    )
    await send_html(send, 200, page("Preferences", body))


async def view_online_page(
    context: TrackingContext, token: str, scope: Scope, receive: Receive, send: Send
) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        await send_text(send, 405, "method not allowed\n", [(b"allow", b"GET, HEAD")])
        return
    delivery = await _delivery_of(context, token)
    rendered: str | None = None
    if delivery is not None:
        rendered = await _render(context, delivery, token)
    if rendered is None:
        await send_text(send, 404, "not found: this message is no longer available\n")
        return
    raw = rendered.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(raw)).encode()),
                (b"cache-control", b"no-store"),
                (b"x-robots-tag", b"noindex"),
                (b"referrer-policy", b"no-referrer"),
                # The message's own HTML: no scripts, no framing by other sites.
                (b"content-security-policy", b"script-src 'none'; frame-ancestors 'none'"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


async def _render(context: TrackingContext, delivery: PageDelivery, token: str) -> str | None:
    """The message as the contact got it, with the same tracked links (its link
    table is stored again in case the template was compiled anew since)."""
    settings = context.settings
    public_url = settings.api.external_url
    assert context.sessionmaker is not None
    async with context.sessionmaker() as session:
        repository = TrackingRepository(session)
        campaign = await repository.campaign(delivery.workspace_id, delivery.campaign_id)
        contact = await repository.contact(delivery.workspace_id, delivery.contact_id)
        workspace = await repository.workspace(delivery.workspace_id)
        if campaign is None or contact is None or workspace is None:
            return None
        content = content_of(campaign, workspace.postal_address)
        template_id = content.template_for(delivery.variant)
        if template_id is None:
            return None
        try:
            loaded = await load_compiled_template(
                session,
                delivery.workspace_id,
                template_id,
                limits=limits_from_settings(settings),
                subject=content.subject_for(delivery.variant),
                preheader=content.preheader,
            )
        except (TemplateProblem, MailyError) as exc:
            _log.info("message not shown online", reason=str(exc))
            return None
        compiled = loaded.compiled
        table = link_table_id(
            delivery.workspace_id, loaded.template_id, loaded.version, compiled.links
        )
        await store_link_table(
            session,
            delivery.workspace_id,
            table,
            loaded.template_id,
            loaded.version,
            compiled.links,
        )
        await session.commit()
    click_urls = context.signer.click_urls(public_url, delivery.id, len(compiled.links), table)
    variables = merge_variables(
        contact=contact_variables(
            contact.email, contact.first_name, contact.last_name, contact.fields, contact.tags
        ),
        workspace=workspace_variables(workspace.name, workspace.postal_address),
        campaign=campaign_variables(campaign.name, content.subject_for(delivery.variant)),
        unsubscribe_url=f"{public_url}/u/{token}",
        preferences_url=f"{public_url}/p/{token}",
        view_online_url=f"{public_url}/v/{token}",
    )
    try:
        message = compiled.render(variables, click_url=click_urls.__getitem__, open_url=None)
    except TemplateProblem as exc:
        _log.info("message not shown online", reason=str(exc))
        return None
    return message.html
