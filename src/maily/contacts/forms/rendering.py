"""HTML for signup forms: the hosted page, the embeddable snippet and the message pages.

Jinja2 with autoescaping on for every template: titles, descriptions, labels and
submitted values are the workspace's or a visitor's text and never become markup."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined

from maily.contacts.forms.service import FormInput

_env = Environment(
    loader=PackageLoader("maily.contacts.forms", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def form_url(base_url: str, public_id: str) -> str:
    """Where a form lives and posts: `base_url` is `settings.api.external_url`."""
    return f"{base_url.rstrip('/')}/f/{public_id}"


def snippet(*, public_id: str, action_url: str, inputs: list[FormInput]) -> str:
    return _env.get_template("_form.html").render(
        public_id=public_id, action_url=action_url, inputs=inputs, values={}, errors={}
    )


def page(
    *,
    public_id: str,
    title: str,
    description: str,
    inputs: list[FormInput],
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> str:
    """The hosted page. It posts to its own path, so it works under whatever host
    name the visitor reached it by."""
    return _env.get_template("page.html").render(
        public_id=public_id,
        action_url=f"/f/{public_id}",
        title=title,
        paragraphs=_paragraphs(description),
        inputs=inputs,
        values=values or {},
        errors=errors or {},
    )


def message(title: str, *paragraphs: str) -> str:
    return _env.get_template("message.html").render(
        title=title, paragraphs=[p for text in paragraphs for p in _paragraphs(text)]
    )


def content_security_policy(redirect_url: str | None = None) -> str:
    """No script, no plugins, no outside resources; the form may post only to Maily,
    and (Chrome applies form-action to the redirect that follows) to the redirect's origin."""
    form_action = "'self'"
    origin = _origin(redirect_url) if redirect_url else None
    if origin:
        form_action += f" {origin}"
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"form-action {form_action}; base-uri 'none'"
    )


def _origin(url: str) -> str | None:
    """scheme://host[:port], rebuilt from checked parts so nothing else reaches the header."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(host):
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


_HOST = re.compile(r"[a-z0-9.-]+|[0-9a-f:.]+")
