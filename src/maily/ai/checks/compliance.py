"""Deterministic checks over an email's content: the law (CAN-SPAM), and what spam
filters and readers punish — subject, phrases, links, images. No model involved.

`check_content()` takes the subject, preheader, HTML and text of one message — either
rendered (preview URLs, sample data) or as template source with merge tags intact —
and returns a CheckReport whose findings say, in words, what to fix. A finding of
severity "error" fails the report; warnings do not."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from importlib import resources
from urllib.parse import urlsplit

from maily.ai.contracts import Brand, CheckFinding, CheckReport

__all__ = [
    "MAX_LINKS",
    "MAX_SUBJECT_CHARS",
    "SPAM_SCORE_ERROR",
    "SPAM_SCORE_WARNING",
    "Anchor",
    "Image",
    "ParsedHtml",
    "check_content",
    "check_html_links_and_images",
    "check_subject",
    "link_host",
    "parse_html",
    "spam_phrases",
    "url_shorteners",
]

MAX_SUBJECT_CHARS = 78  # many clients cut a subject after 40-80 characters
MIN_SUBJECT_CHARS = 4
MAX_PREHEADER_CHARS = 150
MAX_LINKS = 30
SPAM_SCORE_WARNING = 6
SPAM_SCORE_ERROR = 10
STRONG_PHRASE = 4  # a phrase this heavy is an error on its own
LISTED_PHRASE = 3  # phrases this heavy are reported one by one
MIN_TEXT_CHARS_PER_IMAGE = 100

# How a template references the per-message URLs (docs/templates.md, merge variables).
_UNSUBSCRIBE_VARIABLE = re.compile(r"\{\{-?\s*(unsubscribe_url|preferences_url)\b")
_POSTAL_VARIABLE = re.compile(r"\{\{-?\s*workspace\.postal_address\b")
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_MISLEADING_PREFIX = re.compile(r"^\s*(re|fwd?|aw|wg|tr)\s*:", re.IGNORECASE)
_PUNCTUATION_RUN = re.compile(r"[!?]{2,}|\${2,}")
# Link text that shows an address: a URL, a www. name, or the whole text a domain.
_SHOWN_URL = re.compile(
    r"(?:https?://|\bwww\.)((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]+\.[a-z]{2,63})",
    re.IGNORECASE,
)
_WHOLE_DOMAIN = re.compile(
    r"^((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})(?:/\S*)?$", re.IGNORECASE
)
_BLOCKED_SCHEMES = ("javascript", "vbscript", "data", "file")
_QUIET_SCHEMES = ("mailto", "tel", "sms")
_SPACE = re.compile(r"\s+")


# -- data files --------------------------------------------------------------------


def _data_lines(name: str) -> Iterable[str]:
    text = resources.files("maily.ai.checks").joinpath("data", name).read_text("utf-8")
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


@cache
def spam_phrases() -> tuple[tuple[str, int, re.Pattern[str]], ...]:
    """(phrase, weight, whole-word pattern) from data/spam_phrases.tsv, heaviest first."""
    phrases: list[tuple[str, int, re.Pattern[str]]] = []
    for line in _data_lines("spam_phrases.tsv"):
        weight, phrase = line.split("\t", 1)
        body = re.escape(phrase.strip().lower())
        start = r"\b" if phrase[0].isalnum() else ""
        end = r"\b" if phrase[-1].isalnum() else ""
        phrases.append((phrase.strip(), int(weight), re.compile(start + body + end, re.I)))
    return tuple(sorted(phrases, key=lambda item: (-item[1], item[0])))


@cache
def url_shorteners() -> frozenset[str]:
    return frozenset(line.lower() for line in _data_lines("url_shorteners.txt"))


# -- HTML ------------------------------------------------------------------------


@dataclass
class Anchor:
    href: str
    text: str = ""


@dataclass
class Image:
    src: str
    alt: str | None
    width: str = ""
    height: str = ""

    @property
    def is_pixel(self) -> bool:
        """A 1x1 tracking pixel: no content, needs no alt text."""
        return self.width.strip() in ("0", "1", "1px") and self.height.strip() in (
            "0",
            "1",
            "1px",
        )


@dataclass
class ParsedHtml:
    anchors: list[Anchor] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    text: str = ""  # visible text, whitespace collapsed, hidden preheader included


class _Collector(HTMLParser):
    _SKIP = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parsed = ParsedHtml()
        self._open: list[Anchor] = []
        self._skip = 0
        self._chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in self._SKIP:
            self._skip += 1
        elif tag in ("a", "area") and "href" in values:
            anchor = Anchor(href=values["href"].strip())
            self.parsed.anchors.append(anchor)
            if tag == "a":
                self._open.append(anchor)
        elif tag == "img":
            alt = dict(attrs).get("alt")
            self.parsed.images.append(
                Image(
                    src=values.get("src", "").strip(),
                    alt=alt,
                    width=values.get("width", ""),
                    height=values.get("height", ""),
                )
            )

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "a" and self._open:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "a" and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self._chunks.append(data)
        for anchor in self._open:
            anchor.text += data

    def result(self) -> ParsedHtml:
        self.parsed.text = _SPACE.sub(" ", " ".join(self._chunks)).strip()
        for anchor in self.parsed.anchors:
            anchor.text = _SPACE.sub(" ", anchor.text).strip()
        return self.parsed


def parse_html(html: str) -> ParsedHtml:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.result()


def link_host(url: str) -> str:
    """The lower-case host of an absolute URL, "" when it has none."""
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def _registrable(host: str) -> str:
    """The last two labels (three under a two-letter country's second level, e.g.
    shop.example.co.uk -> example.co.uk): near enough to tell one site from another."""
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and len(labels[-2]) <= 3:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _shown_host(text: str) -> str:
    match = _SHOWN_URL.search(text) or _WHOLE_DOMAIN.match(text.strip())
    if match is None:
        return ""
    host = match.group(1).lower()
    return host[4:] if host.startswith("www.") else host


def _short(url: str, limit: int = 80) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"


# -- the checks --------------------------------------------------------------------


class _Findings:
    def __init__(self) -> None:
        self.items: list[CheckFinding] = []

    def error(self, check: str, message: str, where: str = "") -> None:
        self.items.append(CheckFinding(check=check, severity="error", message=message, where=where))

    def warning(self, check: str, message: str, where: str = "") -> None:
        self.items.append(
            CheckFinding(check=check, severity="warning", message=message, where=where)
        )


def _normalised(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _check_unsubscribe(
    findings: _Findings, html: str, text: str, parsed: ParsedHtml, urls: Sequence[str]
) -> None:
    if _UNSUBSCRIBE_VARIABLE.search(html) or _UNSUBSCRIBE_VARIABLE.search(text):
        return
    known = {url for url in urls if url}
    if any(anchor.href in known for anchor in parsed.anchors) or any(url in text for url in known):
        return
    own = [
        anchor
        for anchor in parsed.anchors
        if "unsubscribe" in anchor.text.lower() or "unsubscribe" in anchor.href.lower()
    ]
    if own:
        findings.warning(
            "unsubscribe_link",
            "The unsubscribe link points to your own address instead of "
            "{{ unsubscribe_url }}, so Maily cannot record the unsubscribe or suppress "
            "the contact; link to {{ unsubscribe_url }} instead.",
            own[0].href,
        )
        return
    findings.error(
        "unsubscribe_link",
        "There is no unsubscribe link. Commercial email must offer one (CAN-SPAM); add "
        'a link such as <a href="{{ unsubscribe_url }}">Unsubscribe</a> to the footer.',
        "body",
    )


# Addresses are often broken over lines or separated by commas differently.
_SQUEEZE = re.compile(r"[\s,]+")


def _check_postal_address(
    findings: _Findings, html: str, text: str, parsed: ParsedHtml, brand: Brand
) -> None:
    if _POSTAL_VARIABLE.search(html) or _POSTAL_VARIABLE.search(text):
        return
    address = _normalised(brand.postal_address)
    if address:
        visible = _normalised(parsed.text) + " " + _normalised(text)
        if _SQUEEZE.sub(" ", address) in _SQUEEZE.sub(" ", visible):
            return
    findings.error(
        "postal_address",
        "The sender's postal address is missing. Commercial email must show a valid "
        "physical postal address (CAN-SPAM); add {{ workspace.postal_address }} to the "
        "footer"
        + ("" if address else ", and set the workspace's postal address in its settings")
        + ".",
        "body",
    )


def _check_subject(
    findings: _Findings, subject: str, preheader: str, first_send: bool, required: bool = True
) -> None:
    bare = _JINJA.sub("x", subject).strip()
    if not bare:
        if required:
            findings.error("subject", "The subject is empty; write one that says what is inside.")
        return
    prefix = _MISLEADING_PREFIX.match(bare)
    if first_send and prefix is not None:
        findings.error(
            "subject_misleading",
            f'The subject starts with "{prefix.group(0).strip()}" '
            "as if it answered or forwarded a message the reader sent; a deceptive subject "
            "is unlawful (CAN-SPAM). Remove the prefix.",
            "subject",
        )
    letters = [c for c in bare if c.isalpha()]
    upper = [c for c in letters if c.isupper()]
    if len(letters) >= 8 and len(upper) / len(letters) > 0.7:
        findings.warning(
            "subject_caps",
            "The subject is mostly capital letters, which reads as shouting and trips "
            "spam filters; use sentence case.",
            "subject",
        )
    if _PUNCTUATION_RUN.search(bare) or bare.count("!") > 1:
        findings.warning(
            "subject_punctuation",
            'The subject has excessive punctuation ("!!", "??", "$$" or several "!"); '
            "keep to one mark at most.",
            "subject",
        )
    if len(bare) > MAX_SUBJECT_CHARS:
        findings.warning(
            "subject_length",
            f"The subject is {len(bare)} characters long; many inboxes cut it after "
            f"about 60, so keep it under {MAX_SUBJECT_CHARS} with the point first.",
            "subject",
        )
    elif len(bare) < MIN_SUBJECT_CHARS:
        findings.warning(
            "subject_length",
            "The subject is very short; say what the email offers in a few words.",
            "subject",
        )
    if len(preheader.strip()) > MAX_PREHEADER_CHARS:
        findings.warning(
            "preheader_length",
            f"The preheader is {len(preheader.strip())} characters; inboxes show about "
            f"{MAX_PREHEADER_CHARS} at most, so shorten it.",
            "preheader",
        )


def _check_phrases(findings: _Findings, subject: str, preheader: str, body: str) -> None:
    total = 0
    hits: list[str] = []
    for phrase, weight, pattern in spam_phrases():
        in_subject = bool(pattern.search(subject) or pattern.search(preheader))
        in_body = bool(pattern.search(body))
        if not (in_subject or in_body):
            continue
        total += weight * (2 if in_subject else 1)  # the subject weighs more with filters
        hits.append(phrase)
        if weight >= LISTED_PHRASE:
            where = "subject" if in_subject else "body"
            message = f'"{phrase}" is a phrase spam filters penalise; rephrase it.'
            if weight >= STRONG_PHRASE:
                findings.error("spam_phrase", message, where)
            else:
                findings.warning("spam_phrase", message, where)
    if total >= SPAM_SCORE_WARNING:
        listed = ", ".join(f'"{hit}"' for hit in hits[:8])
        message = (
            f"Together the trigger phrases score {total} ({listed}); filters add such "
            "words up, so cut most of them."
        )
        if total >= SPAM_SCORE_ERROR:
            findings.error("spam_phrases", message, "body")
        else:
            findings.warning("spam_phrases", message, "body")


def _check_links(findings: _Findings, parsed: ParsedHtml) -> None:
    counted = 0
    for anchor in parsed.anchors:
        href = anchor.href
        if not href or href.startswith("#"):
            continue
        lowered = href.lower()
        scheme = lowered.split(":", 1)[0].strip() if ":" in lowered else ""
        if scheme in _BLOCKED_SCHEMES:
            findings.error(
                "link_scheme",
                f"A link uses a {scheme}: URL, which email clients block and filters "
                "treat as an attack; link to an https:// page instead.",
                _short(href),
            )
            continue
        if scheme in _QUIET_SCHEMES:
            continue
        counted += 1
        templated = "{{" in href or "{%" in href
        host = link_host(_JINJA.sub("x", href)) if templated else link_host(href)
        if not host:
            if not templated:
                findings.warning(
                    "link",
                    "A link has no host; use a full https:// address.",
                    _short(href),
                )
            continue
        if scheme == "http":
            findings.warning(
                "link_insecure",
                "A link uses http:// instead of https://; browsers warn about it and "
                "filters score it; use https://.",
                _short(href),
            )
        if _is_ip(host):
            findings.error(
                "link_ip",
                "A link points to a raw IP address instead of a domain, a pattern of "
                "phishing mail; link to your domain instead.",
                _short(href),
            )
        elif host in url_shorteners() or _registrable(host) in url_shorteners():
            findings.error(
                "link_shortener",
                f"A link goes through the URL shortener {host}, which hides where it "
                "leads; spam filters distrust shorteners, so link to the page directly.",
                _short(href),
            )
        shown_host = _shown_host(anchor.text)
        if shown_host and not _is_ip(host) and _registrable(shown_host) != _registrable(host):
            findings.error(
                "link_mismatch",
                f'A link shows "{shown_host}" but leads to {host}; readers and filters '
                "treat that as phishing. Make the text match where the link goes.",
                _short(href),
            )
    if counted > MAX_LINKS:
        findings.warning(
            "link_count",
            f"The email has {counted} links; more than {MAX_LINKS} looks like a link "
            "farm to filters. Keep the ones that matter.",
            "body",
        )


def _check_images(findings: _Findings, parsed: ParsedHtml, text: str) -> None:
    images = [image for image in parsed.images if not image.is_pixel]
    for image in images:
        if image.alt is None or (not image.alt.strip() and image.src):
            findings.warning(
                "image_alt",
                "An image has no alt text; many clients block images by default, so "
                "say in its alt text what it shows.",
                _short(image.src),
            )
        if image.src.lower().startswith("http://"):
            findings.warning(
                "image_insecure",
                "An image loads over http://; clients may block it. Serve it over https://.",
                _short(image.src),
            )
    if not images:
        return
    visible = max(
        len(_SPACE.sub(" ", _JINJA.sub("", parsed.text)).strip()),
        len(_SPACE.sub(" ", _JINJA.sub("", text)).strip()),
    )
    if visible < 20:
        findings.error(
            "image_only",
            "The email is only images: with images blocked the reader sees nothing and "
            "filters score image-only mail as spam. Put the message in text too.",
            "body",
        )
    elif visible < MIN_TEXT_CHARS_PER_IMAGE * len(images):
        findings.warning(
            "image_ratio",
            f"There is little text for {len(images)} image(s) ({visible} characters); "
            "filters like at least a few sentences per image, so add text.",
            "body",
        )


def check_html_links_and_images(html: str, text: str = "") -> list[CheckFinding]:
    """Only the link and image checks, for callers that score deliverability."""
    findings = _Findings()
    parsed = parse_html(html)
    _check_links(findings, parsed)
    _check_images(findings, parsed, text)
    return findings.items


def check_subject(
    subject: str, preheader: str = "", *, first_send: bool = True
) -> list[CheckFinding]:
    """The subject and preheader rules alone (a subject line suggestion has no body)."""
    findings = _Findings()
    _check_subject(findings, subject, preheader, first_send)
    _check_phrases(findings, subject, preheader, "")
    return findings.items


def check_content(
    *,
    subject: str,
    preheader: str,
    html: str,
    text: str,
    brand: Brand,
    unsubscribe_urls: Sequence[str] = (),
    first_send: bool = True,
    require_subject: bool = True,
) -> CheckReport:
    """Check one message. `unsubscribe_urls` are the URLs that stand in for
    {{ unsubscribe_url }} / {{ preferences_url }} when `html` was rendered (a preview's
    URLs); `first_send` False allows "Re:" subjects for genuine follow-ups;
    `require_subject` False for a template whose subject is set elsewhere (a campaign)."""
    findings = _Findings()
    parsed = parse_html(html)
    _check_unsubscribe(findings, html, text, parsed, unsubscribe_urls)
    _check_postal_address(findings, html, text, parsed, brand)
    _check_subject(findings, subject, preheader, first_send, require_subject)
    _check_phrases(findings, subject, preheader, parsed.text + "\n" + text)
    _check_links(findings, parsed)
    _check_images(findings, parsed, text)
    items = findings.items
    return CheckReport(passed=not any(f.severity == "error" for f in items), findings=items)
