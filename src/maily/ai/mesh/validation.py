"""Every template a model writes is checked before anyone sees it: its template code,
its compile and sandboxed render with sample data, its markup (sanitised with nh3), the
domains it links to, then the content checks.

A model's output is untrusted like any other input: a prompt injection that got through
shows up here as a link to a foreign domain, a merge field the workspace doesn't have,
template code reaching into Python, or a script — each a finding that sends the draft
back to the writer, and none of it reaches the preview HTML."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import nh3
from jinja2 import Environment, TemplateSyntaxError, nodes

from maily.ai.checks.compliance import check_content, link_host, parse_html
from maily.ai.contracts import Brand, CheckFinding, CheckReport
from maily.ai.mesh.agents import INSTRUCTED_AGENTS, instructions
from maily.templates import (
    RenderError,
    TemplateProblem,
    compile_template,
    merge_variables,
    sample_contact,
    workspace_variables,
)
from maily.templates.sandbox import ALLOWED_FILTERS

__all__ = [
    "PREVIEW_URLS",
    "STANDARD_CONTACT_FIELDS",
    "Allowed",
    "ValidatedTemplate",
    "allowed_hosts_in",
    "check_template_code",
    "sanitise_html",
    "validate_template",
]

PREVIEW_BASE = "https://preview.maily.invalid"
PREVIEW_URLS = {
    "unsubscribe_url": f"{PREVIEW_BASE}/unsubscribe",
    "preferences_url": f"{PREVIEW_BASE}/preferences",
    "view_online_url": f"{PREVIEW_BASE}/view-online",
}
STANDARD_CONTACT_FIELDS = frozenset({"email", "first_name", "last_name", "full_name", "tags"})
_TOP_LEVEL = frozenset({"contact", "workspace", "campaign", *PREVIEW_URLS})
_WORKSPACE = frozenset({"name", "postal_address"})
_CAMPAIGN = frozenset({"name", "subject"})
_TESTS = frozenset({"defined", "undefined", "none", "string", "number"})
_URL = re.compile(r"https?://[^\s\"'<>)]+", re.IGNORECASE)
_BARE_DOMAIN = re.compile(r"\b((?:[a-z0-9-]+\.)+[a-z]{2,24})\b", re.IGNORECASE)
_UNSAFE_TAGS = frozenset(
    {"script", "iframe", "frame", "object", "embed", "form", "input", "button", "textarea",
     "select", "base", "link", "meta", "svg", "math", "applet"}
)  # fmt: skip
_EVENT_ATTRIBUTE = re.compile(r"<[^>]*\s(on[a-z]+)\s*=", re.IGNORECASE)
_UNSAFE_URL = re.compile(
    r"""(?:href|src|action)\s*=\s*["']?\s*(?:javascript|vbscript|data):""", re.I
)
_TAG = re.compile(r"<\s*([a-z][a-z0-9-]*)", re.IGNORECASE)

# What email HTML needs, and nothing that runs.
_TAGS = set(nh3.ALLOWED_TAGS) | {
    "style", "table", "tbody", "thead", "tfoot", "tr", "td", "th", "center", "font", "title",
}  # fmt: skip
_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "class", "width", "height", "align", "valign", "bgcolor", "border",
          "cellpadding", "cellspacing", "role", "dir", "lang", "id", "color", "background"},
    "a": {"href", "target", "title", "name"},
    "img": {"src", "alt", "title"},
    "font": {"face", "size"},
}  # fmt: skip
_CLEAN_CONTENT = {
    "script", "iframe", "frame", "object", "embed", "form", "textarea", "select", "button",
    "noscript", "svg", "math", "applet",
}  # fmt: skip


def sanitise_html(html: str) -> str:
    """Tables, inline styles, <style>, images and links stay; scripts, event handlers,
    javascript:/data: URLs, forms and frames go."""
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags=_CLEAN_CONTENT,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer",
    )


@dataclass(frozen=True)
class Allowed:
    """What generated content may use: the hosts it may link to and the contact fields
    that exist (beyond the standard ones)."""

    hosts: frozenset[str] = frozenset()
    fields: frozenset[str] = frozenset()

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == allowed or host.endswith("." + allowed) for allowed in self.hosts)


def allowed_hosts_in(texts: Iterable[str]) -> frozenset[str]:
    """Hosts named in a brief, a brand's URLs or an original template: full URLs and
    bare domains. `www.` is dropped so a site's other subdomains pass too."""
    hosts: set[str] = set()
    for text in texts:
        for url in _URL.findall(text or ""):
            host = link_host(url)
            if host:
                hosts.add(host)
        for match in _BARE_DOMAIN.findall(text or ""):
            if not match.lower().endswith((".png", ".jpg", ".gif", ".html", ".mjml")):
                hosts.add(match.lower())
    return frozenset(host.removeprefix("www.") for host in hosts)


# Parses templates to inspect them (their nodes); nothing it parses is ever rendered.
_PARSER = Environment()  # noqa: S701 - parsed only, never rendered


def fields_used(source: str) -> frozenset[str]:
    """Custom contact fields a template already uses (an original's are allowed)."""
    try:
        tree = _PARSER.parse(source)
    except TemplateSyntaxError:
        return frozenset()
    found: set[str] = set()
    for node in tree.find_all(nodes.Getattr):
        chain = _chain(node)
        if chain and chain[0] == "contact" and len(chain) >= 2:
            key = chain[2] if chain[1] == "fields" and len(chain) >= 3 else chain[1]
            if key not in STANDARD_CONTACT_FIELDS and key != "fields":
                found.add(key)
    return frozenset(found)


def _chain(node: nodes.Node) -> list[str]:
    """`contact.fields.plan` -> ["contact", "fields", "plan"]; [] for anything else."""
    names: list[str] = []
    while isinstance(node, nodes.Getattr):
        names.append(node.attr)
        node = node.node
    if isinstance(node, nodes.Name):
        names.append(node.name)
        return names[::-1]
    return []


def _describe(node: nodes.Node) -> str:
    """`''.__class__.__mro__` for the syntax tree of that expression, roughly."""
    attrs: list[str] = []
    while isinstance(node, nodes.Getattr):
        attrs.append(node.attr)
        node = node.node
    root = repr(node.value) if isinstance(node, nodes.Const) else type(node).__name__.lower()
    return ".".join([root, *attrs[::-1]])


class _CodeCheck:
    """Walks a template's Jinja syntax tree: only output of the project's merge
    variables, the sandbox's filters, and `{% if %}` on them."""

    def __init__(self, allowed: Allowed, part: str) -> None:
        self.allowed = allowed
        self.part = part
        self.problems: list[str] = []

    def variable(self, chain: list[str]) -> None:
        text = ".".join(chain)
        root = chain[0]
        if root not in _TOP_LEVEL:
            self.problems.append(f'"{text}" is not a merge variable Maily defines')
        elif root in PREVIEW_URLS and len(chain) > 1:
            self.problems.append(f'"{text}" reaches into a URL; use "{root}" on its own')
        elif root == "workspace" and (len(chain) != 2 or chain[1] not in _WORKSPACE):
            self.problems.append(f'"{text}" is not a workspace variable (name, postal_address)')
        elif root == "campaign" and (len(chain) != 2 or chain[1] not in _CAMPAIGN):
            self.problems.append(f'"{text}" is not a campaign variable (name, subject)')
        elif root == "contact":
            if len(chain) >= 2 and chain[1] == "fields":
                name = chain[2] if len(chain) == 3 else ""
            else:
                name = chain[1] if len(chain) == 2 else ""
            if not name:
                self.problems.append(f'"{text}" is not a contact field')
            elif name not in STANDARD_CONTACT_FIELDS and name not in self.allowed.fields:
                self.problems.append(
                    f'"{text}" is a merge field this workspace does not have; use '
                    "first_name, last_name, full_name or email, or a field the original uses"
                )

    def visit(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Getattr | nodes.Name):
            chain = _chain(node)
            if chain:
                self.variable(chain)
            else:
                self.problems.append(
                    f'template code may only read merge variables (found "{_describe(node)}")'
                )
            return
        if isinstance(node, nodes.Filter | nodes.Test):
            if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
                self.problems.append(f'the filter "{node.name}" is not allowed')
            if isinstance(node, nodes.Test) and node.name not in _TESTS:
                self.problems.append(f'the test "{node.name}" is not allowed')
            if node.node is not None:
                self.visit(node.node)
            for argument in node.args:
                self.visit(argument)
            if node.kwargs or node.dyn_args or node.dyn_kwargs:
                self.problems.append("filters take plain arguments only")
            return
        allowed_nodes = (
            nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.Const,
            nodes.Not, nodes.And, nodes.Or, nodes.Compare, nodes.Operand, nodes.CondExpr,
            nodes.Concat,
        )  # fmt: skip
        if not isinstance(node, allowed_nodes):
            kind = type(node).__name__.lower()
            self.problems.append(
                f"template code other than merge tags and {{% if %}} is not allowed (found {kind})"
            )
            return
        for child in node.iter_child_nodes():
            self.visit(child)


def check_template_code(source: str, allowed: Allowed, part: str = "body") -> list[CheckFinding]:
    """Findings for template code beyond the project's merge variables."""
    try:
        tree = _PARSER.parse(source)
    except TemplateSyntaxError as exc:
        return [
            CheckFinding(
                check="template_code",
                severity="error",
                message=f"The template code does not parse (line {exc.lineno}): {exc.message}. "
                "Use {{ variable }} merge tags and {% if %} … {% endif %} only.",
                where=part,
            )
        ]
    check = _CodeCheck(allowed, part)
    check.visit(tree)
    return [
        CheckFinding(
            check="template_code",
            severity="error",
            message=f"{problem}; remove it (only Maily's merge variables may be used).",
            where=part,
        )
        for problem in dict.fromkeys(check.problems)
    ]


def _unsafe_markup(source: str, part: str, *, tags_too: bool = True) -> list[CheckFinding]:
    findings: list[CheckFinding] = []
    tags = {m.lower() for m in _TAG.findall(source)} & _UNSAFE_TAGS if tags_too else set()
    for tag in sorted(tags):
        findings.append(
            CheckFinding(
                check="unsafe_html",
                severity="error",
                message=f"The template contains a <{tag}> element, which email clients block "
                "and Maily removes; take it out.",
                where=part,
            )
        )
    for attribute in sorted({m.lower() for m in _EVENT_ATTRIBUTE.findall(source)}):
        findings.append(
            CheckFinding(
                check="unsafe_html",
                severity="error",
                message=f"The template has an event handler ({attribute}=…); email cannot run "
                "scripts, remove it.",
                where=part,
            )
        )
    if _UNSAFE_URL.search(source):
        findings.append(
            CheckFinding(
                check="unsafe_html",
                severity="error",
                message="The template links to a javascript:, vbscript: or data: URL; use "
                "https:// links only.",
                where=part,
            )
        )
    return findings


def _foreign_links(html: str, allowed: Allowed, *, source: bool = False) -> list[CheckFinding]:
    """Links and images to hosts the brief, brand and original never named. In a
    source (MJML), every URL counts: mj-button and mj-image carry theirs as attributes."""
    if source:
        urls = _URL.findall(html)
    else:
        parsed = parse_html(html)
        urls = [anchor.href for anchor in parsed.anchors] + [image.src for image in parsed.images]
    findings: list[CheckFinding] = []
    seen: set[str] = set()
    for url in urls:
        host = link_host(url)
        if not host or url in PREVIEW_URLS.values() or host in seen:
            continue
        seen.add(host)
        if not allowed.host_allowed(host):
            findings.append(
                CheckFinding(
                    check="link_domain",
                    severity="error",
                    message=f"The draft links to {host}, which neither the brief, the brand "
                    "nor the original template names; link only to the sites given.",
                    where=url[:120],
                )
            )
    return findings


def _leaked_instructions(text: str) -> list[CheckFinding]:
    """A draft that quotes the agents' own instructions (an injection asked for them)."""
    flat = " ".join(text.split()).lower()
    for name in INSTRUCTED_AGENTS:
        for sentence in re.split(r"(?<=[.:])\s+", " ".join(instructions(name).split())):
            if len(sentence) >= 40 and sentence.lower() in flat:
                return [
                    CheckFinding(
                        check="prompt_leak",
                        severity="error",
                        message="The draft repeats the assistant's own instructions; "
                        "remove that text.",
                        where="body",
                    )
                ]
    return []


def errors_in(findings: Sequence[CheckFinding]) -> list[CheckFinding]:
    return [f for f in findings if f.severity == "error"]


@dataclass
class ValidatedTemplate:
    mjml: str
    subject: str
    preheader: str
    html: str  # rendered with sample data and sanitised; "" when it did not compile
    text: str
    report: CheckReport
    compiled: bool = False

    @property
    def errors(self) -> list[CheckFinding]:
        return errors_in(self.report.findings)

    def rank(self) -> tuple[int, int]:
        """Lower is better: a draft that compiles beats one that doesn't."""
        return (0 if self.compiled else 1, len(self.errors))


def _compile_and_render(
    mjml: str, subject: str, preheader: str, brand: Brand, fields: Sequence[str]
) -> tuple[str, str, str]:
    compiled = compile_template(mjml, "mjml", subject=subject, preheader=preheader)
    variables = merge_variables(
        contact=sample_contact(dict.fromkeys(fields, "text")),
        workspace=workspace_variables(brand.name or "Your company", brand.postal_address),
        unsubscribe_url=PREVIEW_URLS["unsubscribe_url"],
        preferences_url=PREVIEW_URLS["preferences_url"],
        view_online_url=PREVIEW_URLS["view_online_url"],
    )
    rendered = compiled.render(variables, click_url=lambda i: compiled.links[i], open_url=None)
    return rendered.subject, rendered.html, rendered.text


async def validate_template(
    mjml: str,
    *,
    subject: str,
    preheader: str,
    brand: Brand,
    allowed: Allowed,
    require_subject: bool = True,
) -> ValidatedTemplate:
    """Template code, compile, sandboxed render with sample data, markup, link domains,
    then the content checks; every problem is a finding."""
    findings = check_template_code(mjml, allowed, "body")
    findings += check_template_code(subject, allowed, "subject")
    findings += check_template_code(preheader, allowed, "preheader")
    findings += _unsafe_markup(mjml, "body")
    findings += _foreign_links(mjml, allowed, source=True)
    result = ValidatedTemplate(
        mjml=mjml,
        subject=subject,
        preheader=preheader,
        html="",
        text="",
        report=CheckReport(passed=False),
    )
    if any(f.check == "template_code" for f in findings):
        # Code that reaches beyond the merge variables is never run, not even sandboxed.
        result.report = CheckReport(passed=False, findings=findings)
        return result
    try:
        rendered_subject, html, text = await asyncio.to_thread(
            _compile_and_render, mjml, subject, preheader, brand, sorted(allowed.fields)
        )
    except RenderError as problem:
        findings.append(
            CheckFinding(
                check="render",
                severity="error",
                message=f"The template failed to render with sample data: {problem}. Fix it.",
                where=problem.part,
            )
        )
        result.report = CheckReport(passed=False, findings=findings)
        return result
    except TemplateProblem as problem:
        findings.append(
            CheckFinding(
                check="compile",
                severity="error",
                message=f"The template does not compile: {problem}. Write valid MJML "
                "(<mjml><mj-body>…</mj-body></mjml>) with merge tags inside mj-text.",
                where=problem.part,
            )
        )
        result.report = CheckReport(passed=False, findings=findings)
        return result
    result.compiled = True
    findings += _leaked_instructions(text)
    findings += _unsafe_markup(html, "body", tags_too=False)  # MJML adds <meta> itself
    known = {f.message for f in findings if f.check == "link_domain"}
    findings += [f for f in _foreign_links(html, allowed) if f.message not in known]
    safe_html = sanitise_html(html)
    report = check_content(
        subject=rendered_subject,
        preheader=preheader,
        html=html,
        text=text,
        brand=brand,
        unsubscribe_urls=[PREVIEW_URLS["unsubscribe_url"], PREVIEW_URLS["preferences_url"]],
        require_subject=require_subject,
    )
    every = [*findings, *report.findings]
    result.html = safe_html
    result.text = text
    result.report = CheckReport(
        passed=not any(f.severity == "error" for f in every), findings=every
    )
    return result
