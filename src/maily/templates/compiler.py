"""Compile a template once per campaign, then render each message cheaply.

`compile_template()` does all the expensive work on the source with its Jinja tags
intact: blocks and layout are composed, MJML becomes HTML (mrml), CSS is inlined
(css-inline), links are found and swapped for link slots, a plain-text twin is made
(html2text) and both are compiled as sandboxed Jinja templates. `CompiledTemplate.render()`
then only renders Jinja (subject, HTML, text) with the recipient's variables and each
link slot's signed URL; no HTML is parsed per message.

Links whose href holds a merge tag (`{{ unsubscribe_url }}`, `https://x/{{ contact.id }}`)
are not tracked: a click token carries a link's index into the campaign's link table,
and a personalised URL has no fixed entry there. `mailto:`/`tel:` links, links with a
`data-no-track` attribute and anything that is not http(s) are left alone too."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import css_inline
import html2text
import mrml
from jinja2 import TemplateSyntaxError

from maily.templates.errors import RenderError, TemplateProblem
from maily.templates.markup import Protected, link_marker, protect, restore
from maily.templates.sandbox import (
    RenderLimits,
    SandboxedTemplate,
    TemplateEnvironment,
    render_deadline,
)

__all__ = [
    "COMPILE_STATS",
    "CompiledTemplate",
    "RenderedMessage",
    "TemplateKind",
    "compile_template",
    "has_content_block",
    "html_to_text",
    "locate_render_problem",
]

MAX_SOURCE_CHARS = 500_000
MAX_SUBJECT_CHARS = 998  # one header line (RFC 5322)
MAX_INCLUDE_DEPTH = 5

_INCLUDE = re.compile(
    r"""\{%-?\s*include\s+(["'])(?P<name>[^"']+)\1(?:\s+ignore\s+missing)?"""
    r"""(?:\s+(?:with|without)\s+context)?\s*-?%\}"""
)
_CONTENT_BLOCK = re.compile(
    r"\{%-?\s*block\s+content\s*-?%\}.*?\{%-?\s*endblock(?:\s+content)?\s*-?%\}", re.DOTALL
)
_DOCUMENT = re.compile(r"<(?:html|body)\b", re.IGNORECASE)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)
_MRML_POSITION = re.compile(r"at position (\d+)")

_PREHEADER_HTML = (
    '{% if _mly_preheader %}<div style="display:none;font-size:1px;line-height:1px;'
    'max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all;">'
    "{{ _mly_preheader }}</div>{% endif %}"
)
_PIXEL_HTML = (
    '{% if _mly_open_url %}<img src="{{ _mly_open_url }}" width="1" height="1" alt="" '
    'style="display:block;width:1px;height:1px;border:0;" />{% endif %}'
)
_BLANK_RUNS = re.compile(r"\n{3,}")
_UNTRACKED_SCHEMES = ("mailto:", "tel:", "sms:", "#")


class TemplateKind(StrEnum):
    mjml = "mjml"
    html = "html"


@dataclass
class CompileStats:
    """Counters tests read to prove the per-message path compiles nothing."""

    compiles: int = 0
    text_fallback_renders: int = 0


COMPILE_STATS = CompileStats()


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str
    html: str
    text: str


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.unicode_snob = True
    converter.skip_internal_links = True
    lines = [line.rstrip() for line in converter.handle(html).splitlines()]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip() + "\n"


# -- composition -----------------------------------------------------------------


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _expand_includes(
    source: str,
    blocks: Mapping[str, str],
    part: str,
    trail: tuple[str, ...] = (),
    *,
    used: set[str],
) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group("name")
        line = _line_of(source, match.start())
        if name not in blocks:
            raise TemplateProblem(f'there is no block named "{name}"', line=line, part=part)
        if name in trail or len(trail) >= MAX_INCLUDE_DEPTH:
            raise TemplateProblem(
                f'block "{name}" includes itself, or blocks are nested too deep',
                line=line,
                part=part,
            )
        used.add(name)
        return _expand_includes(blocks[name], blocks, f"block {name}", (*trail, name), used=used)

    return _INCLUDE.sub(one, source)


def _check(environment: TemplateEnvironment, source: str, part: str) -> None:
    """Syntax, unknown filters and tags outside any marker's reach, by line."""
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateProblem(f"is longer than {MAX_SOURCE_CHARS} characters", part=part)
    try:
        environment.compile(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or str(exc), line=exc.lineno, part=part) from exc
    try:
        protect(source)
    except TemplateProblem as problem:
        raise problem.located(part) from None


def has_content_block(layout_source: str) -> bool:
    return _CONTENT_BLOCK.search(layout_source) is not None


def compose(
    source: str, layout_source: str | None, blocks: Mapping[str, str]
) -> tuple[str, set[str]]:
    """The template's source inside its layout with every block included, and the
    names of the blocks used."""
    used: set[str] = set()
    body = _expand_includes(source, blocks, "source", used=used)
    if layout_source is None:
        return body, used
    layout = _expand_includes(layout_source, blocks, "layout", used=used)
    match = _CONTENT_BLOCK.search(layout)
    if match is None:
        raise TemplateProblem(
            "has no {% block content %}{% endblock %} to hold the template", part="layout"
        )
    return layout[: match.start()] + body + layout[match.end() :], used


# -- HTML passes (compile time only) ---------------------------------------------


def _mjml_to_html(protected: Protected) -> str:
    try:
        output = mrml.to_html(
            protected.text,
            parser_options=mrml.ParserOptions(include_loader=mrml.noop_loader()),
        )
    except OSError as exc:
        message = str(exc)
        position = _MRML_POSITION.search(message)
        line = _line_of(protected.text, int(position.group(1))) if position else None
        raise TemplateProblem(f"is not valid MJML: {message}", line=line) from exc
    return output.content


_INLINER = css_inline.CSSInliner(
    keep_style_tags=True,  # media queries and client hacks only work from <style>
    keep_link_tags=True,
    load_remote_stylesheets=False,  # compile must never fetch URLs a template names
)


def _inline_css(html: str) -> str:
    try:
        return _INLINER.inline(html)
    except ValueError as exc:
        raise TemplateProblem(f"has CSS that cannot be inlined: {exc}") from exc


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[tuple[int, int], str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "area"):
            raw = self.get_starttag_text()
            if raw is not None:
                self.found.append((self.getpos(), raw, dict(attrs)))

    handle_startendtag = handle_starttag


_HREF = re.compile(r"""(\shref\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)
_NO_TRACK = re.compile(r"""\sdata-no-track(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""", re.IGNORECASE)


def _trackable(href: str, protected: Protected) -> bool:
    if protected.pattern.search(href) or href.lower().startswith(_UNTRACKED_SCHEMES):
        return False
    parts = urlsplit(href)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _rewrite_links(html: str, protected: Protected) -> tuple[str, list[str]]:
    """Give every trackable link's href a link slot; return the HTML and the link table."""
    parser = _Anchors()
    parser.feed(html)
    parser.close()
    line_starts = [0]
    for match in re.finditer("\n", html):
        line_starts.append(match.end())
    links: list[str] = []
    index_of: dict[str, int] = {}
    out: list[str] = []
    position = 0
    for (line, column), raw, attrs in parser.found:
        start = line_starts[line - 1] + column
        if html[start : start + len(raw)] != raw:
            continue  # not where the parser says: leave it alone rather than guess
        href = (attrs.get("href") or "").strip()
        if "data-no-track" in attrs:
            replacement = _NO_TRACK.sub("", raw, count=1)
        elif href and _trackable(href, protected):
            if href not in index_of:
                index_of[href] = len(links)
                links.append(href)
            marker = link_marker(protected, index_of[href])
            replacement = _HREF.sub(rf'\1"{marker}"', raw, count=1)
        else:
            continue
        out.append(html[position:start])
        out.append(replacement)
        position = start + len(raw)
    out.append(html[position:])
    return "".join(out), links


def _link_slot(index: int) -> str:
    return f"{{{{ _mly_links[{index}] }}}}"


def _insert_frame(html: str, has_preheader: bool) -> str:
    """The hidden preheader after <body>, the open pixel before </body>."""
    if has_preheader:
        opening = _BODY_OPEN.search(html)
        at = opening.end() if opening else 0
        html = html[:at] + _PREHEADER_HTML + html[at:]
    closings = list(_BODY_CLOSE.finditer(html))
    at = closings[-1].start() if closings else len(html)
    return html[:at] + _PIXEL_HTML + html[at:]


# -- the compiled template -------------------------------------------------------


@dataclass
class CompiledTemplate:
    """A template ready to render many messages. Build it with compile_template()."""

    links: list[str]
    html_source: str  # the compiled Jinja source of the HTML part
    text_source: str | None  # None when the text part is made from each rendered HTML
    limits: RenderLimits
    _subject: SandboxedTemplate = field(repr=False)
    _preheader: SandboxedTemplate | None = field(repr=False)
    _html: SandboxedTemplate = field(repr=False)
    _text: SandboxedTemplate | None = field(repr=False)
    environments: tuple[TemplateEnvironment, TemplateEnvironment] = field(repr=False)

    def render(
        self,
        variables: Mapping[str, Any],
        *,
        click_url: Callable[[int], str],
        open_url: str | None = None,
    ) -> RenderedMessage:
        """Render one message. `click_url(i)` gives the URL for link i of `links` (a
        signed tracking URL, or the link itself for a preview); `open_url` is the open
        pixel's URL, None for none. Raises RenderError."""
        limit = self.limits.max_output_chars
        part = "subject"
        try:
            with render_deadline(self.limits.timeout_seconds):
                subject = self._subject.render(variables, MAX_SUBJECT_CHARS * 4)
                subject = " ".join(subject.split())
                if len(subject) > MAX_SUBJECT_CHARS:
                    raise TemplateProblem(f"is longer than {MAX_SUBJECT_CHARS} characters")
                values = dict(variables)
                part = "preheader"
                values["_mly_preheader"] = (
                    " ".join(self._preheader.render(variables, limit).split())
                    if self._preheader is not None
                    else ""
                )
                values["_mly_links"] = list(map(click_url, range(len(self.links))))
                values["_mly_open_url"] = open_url
                part = "source"
                html = self._html.render(values, limit)
                if self._text is not None:
                    text = self._text.render(values, limit)
                else:
                    COMPILE_STATS.text_fallback_renders += 1
                    text = html_to_text(html)
        except RenderError:
            raise
        except TemplateProblem as problem:
            raise RenderError(problem.message, part=part) from problem
        except Exception as exc:  # anything sandboxed template code raised
            raise RenderError(_describe(exc), part=part) from exc
        return RenderedMessage(subject=subject, html=html, text=text)


def _describe(exc: BaseException) -> str:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, RecursionError):
        return "the template calls itself too deeply"
    return message


def compile_template(
    source: str,
    kind: TemplateKind | str,
    *,
    subject: str = "",
    preheader: str = "",
    layout_source: str | None = None,
    blocks: Mapping[str, str] | None = None,
    limits: RenderLimits | None = None,
) -> CompiledTemplate:
    """Compile once; render many. Raises TemplateProblem naming the part and line."""
    kind = TemplateKind(kind)
    limits = limits or RenderLimits()
    blocks = blocks or {}
    html_env = TemplateEnvironment(autoescape=True, max_output_chars=limits.max_output_chars)
    text_env = TemplateEnvironment(autoescape=False, max_output_chars=limits.max_output_chars)
    _check(html_env, source, "source")
    _check(text_env, subject, "subject")
    _check(text_env, preheader, "preheader")
    if layout_source is not None:
        _check(html_env, layout_source, "layout")
    composed, used = compose(source, layout_source, blocks)
    for name in sorted(used):
        _check(html_env, blocks[name], f"block {name}")
    COMPILE_STATS.compiles += 1

    protected = protect(composed)
    if kind is TemplateKind.mjml:
        html = _mjml_to_html(protected)
    elif _DOCUMENT.search(protected.text):
        html = protected.text
    else:
        # A fragment gets its document here: left to the HTML parser, the implied
        # <html><body> would open after a leading comment marker, i.e. inside a
        # {% macro %} or {% if %} that starts the fragment.
        html = f"<html><head></head><body>{protected.text}</body></html>"
    html, links = _rewrite_links(_inline_css(html), protected)

    text_markup = html_to_text(re.sub(rf"<!--(js{protected.nonce}\d+z)-->", r" \1 ", html))
    # The text twin is used only if every statement survived the conversion exactly
    # once; otherwise each message's text is made from its rendered HTML (slower, right).
    text_whole = all(text_markup.count(word) == 1 for word in protected.statements)
    text_source: str | None = restore(protected, text_markup, _link_slot, require_all=False)
    html_source = _insert_frame(
        restore(protected, html, _link_slot, require_all=True), bool(preheader.strip())
    )
    try:
        html_template = html_env.prepare(html_source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"does not compile after {kind.value.upper()} processing: {exc.message}"
        ) from exc
    text_template: SandboxedTemplate | None = None
    if text_whole and text_source is not None:
        try:
            text_template = text_env.prepare(text_source)
        except TemplateSyntaxError:
            text_template = None
    if text_template is None:
        text_source = None
    return CompiledTemplate(
        links=links,
        html_source=html_source,
        text_source=text_source,
        limits=limits,
        _subject=text_env.prepare(subject),
        _preheader=text_env.prepare(preheader) if preheader.strip() else None,
        _html=html_template,
        _text=text_template,
        environments=(html_env, text_env),
    )


def locate_render_problem(
    source: str, variables: Mapping[str, Any], limits: RenderLimits | None = None
) -> int | None:
    """The line of `source` whose Jinja fails with `variables`, found by rendering the
    author's own text (compiled output has other line numbers). Compile time only."""
    limits = limits or RenderLimits()
    environment = TemplateEnvironment(autoescape=True, max_output_chars=limits.max_output_chars)
    # Includes are left out, newlines kept, so lines stay the author's lines.
    bare = _INCLUDE.sub(lambda m: "\n" * m.group(0).count("\n"), source)
    values = dict(variables, _mly_links=[], _mly_open_url=None, _mly_preheader="")
    try:
        with render_deadline(limits.timeout_seconds):
            environment.prepare(bare, direct=False).render(values, limits.max_output_chars)
    except Exception as exc:
        line = None
        traceback = exc.__traceback__
        while traceback is not None:
            if traceback.tb_frame.f_code.co_filename == "<template>":
                line = traceback.tb_lineno
            traceback = traceback.tb_next
        return line
    return None
