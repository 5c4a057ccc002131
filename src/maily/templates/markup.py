"""Jinja tags kept intact through MJML, CSS inlining and HTML-to-text conversion.

Those tools parse HTML; a `{% for %}` between two table rows would be moved by an HTML
parser (foster parenting), and `{{ "a" if x }}` inside an attribute would break its
quoting. So before any of them runs, every Jinja construct is swapped for a marker
that every tool passes through untouched, and swapped back afterwards:

- a statement (`{% ... %}`) in text becomes an HTML comment `<!--jsNz-->`: comments
  stay where they are in any parsing context, tables included;
- an expression, and a statement inside an attribute value or raw text (`<style>`,
  `<title>`), becomes a bare alphanumeric word `jxNz`.

A construct between a tag's attributes (`<td {% if x %}class="a"{% endif %}>`) has no
marker that survives parsing; it is refused with its line number."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from maily.templates.errors import TemplateProblem

# A Jinja construct; quoted strings inside it may hold its closing delimiter.
_JINJA = re.compile(
    r"""\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}"""
    r"""|\{\{(?:[^}"']|"[^"]*"|'[^']*'|\}(?!\}))*\}\}"""
    r"""|\{%(?:[^%"']|"[^"]*"|'[^']*'|%(?!\}))*%\}"""
    r"""|\{\#.*?\#\}""",
    re.DOTALL,
)
_RAW_TEXT_TAGS = ("style", "script", "title", "textarea")


@dataclass
class Protected:
    """A source with its Jinja constructs swapped for markers."""

    text: str
    nonce: str
    originals: dict[str, str] = field(default_factory=dict)  # marker word -> Jinja text
    lines: dict[str, int] = field(default_factory=dict)  # marker word -> source line
    statements: set[str] = field(default_factory=set)

    def marker(self, kind: str, number: int) -> str:
        return f"j{kind}{self.nonce}{number}z"

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(rf"<!--(j[sx]{self.nonce}\d+z)-->|(j[sxl]{self.nonce}\d+z)")


class _Scanner:
    """Tracks whether a position of an HTML-like source is text, inside a tag (and
    whether inside a quoted value), or raw text, as the source is walked left to right."""

    def __init__(self) -> None:
        self.state = "text"  # text | tag | quoted | comment | raw
        self.quote = ""
        self.raw_tag = ""
        self.tag_name = ""
        self.closing = False
        self.last = ""  # last non-space character seen inside a tag

    def feed(self, chunk: str) -> None:
        i = 0
        while i < len(chunk):
            c = chunk[i]
            if self.state == "text":
                if chunk.startswith("<!--", i):
                    self.state, i = "comment", i + 4
                    continue
                if (
                    c == "<"
                    and i + 1 < len(chunk)
                    and (chunk[i + 1].isalpha() or chunk[i + 1] == "/")
                ):
                    match = re.match(r"</?([A-Za-z][\w:-]*)", chunk[i:])
                    self.tag_name = match.group(1).lower() if match else ""
                    self.closing = chunk[i + 1] == "/"
                    self.state, self.last = "tag", ""
                    i += len(match.group(0)) if match else 1
                    continue
            elif self.state == "comment":
                if chunk.startswith("-->", i):
                    self.state, i = "text", i + 3
                    continue
            elif self.state == "raw":
                if chunk[i:].lower().startswith(f"</{self.raw_tag}"):
                    self.state = "text"
                    continue
            elif self.state == "quoted":
                if c == self.quote:
                    self.state, self.last = "tag", c
            elif self.state == "tag":
                if c in "\"'":
                    self.state, self.quote = "quoted", c
                elif c == ">":
                    raw = self.tag_name in _RAW_TEXT_TAGS and not self.closing
                    self.state = "raw" if raw else "text"
                    self.raw_tag = self.tag_name
                elif not c.isspace():
                    self.last = c
            i += 1


def protect(source: str) -> Protected:
    """Swap each Jinja construct of `source` for a marker (see the module docstring)."""
    protected = Protected(text="", nonce=secrets.token_hex(3))
    scanner = _Scanner()
    out: list[str] = []
    position = 0
    for number, match in enumerate(_JINJA.finditer(source)):
        before = source[position : match.start()]
        scanner.feed(before)
        out.append(before)
        construct = match.group(0)
        line = source.count("\n", 0, match.start()) + 1
        position = match.end()
        if construct.startswith("{#"):
            continue  # a Jinja comment renders nothing
        statement = construct.startswith("{%")
        word = protected.marker("s" if statement else "x", number)
        protected.originals[word] = construct
        protected.lines[word] = line
        if scanner.state == "tag" and scanner.last != "=":
            raise TemplateProblem(
                "template tags cannot sit between an HTML tag's attributes; put them "
                'inside an attribute value (class="{{ ... }}") or around the whole tag',
                line=line,
            )
        if statement:
            protected.statements.add(word)
            out.append(f"<!--{word}-->" if scanner.state == "text" else word)
        else:
            out.append(word)
    out.append(source[position:])
    protected.text = "".join(out)
    return protected


# `{{`, `{%` and `{#` that HTML tools produced from entities (`&#123;&#123;`) must stay
# text, not become Jinja syntax when the markers are swapped back.
_STRAY = re.compile(r"\{(?=[{%#])|(?<=[}%#])\}")


def _escape_stray(text: str) -> str:
    return _STRAY.sub(lambda m: "{{ '" + m.group(0) + "' }}", text)


def restore(
    protected: Protected, text: str, link: Callable[[int], str], *, require_all: bool
) -> str:
    """Swap the markers in `text` (a tool's output) back for their Jinja constructs, and
    link markers (`jl...`) for `link(index)`. With `require_all`, a construct the tool
    dropped or repeated in a way that breaks the template's structure is an error."""
    text = _escape_stray(text)
    seen: dict[str, int] = {}
    prefix_length = 2 + len(protected.nonce)

    def swap(match: re.Match[str]) -> str:
        word = match.group(1) or match.group(2)
        if word.startswith("jl"):
            return link(int(word[prefix_length:-1]))
        seen[word] = seen.get(word, 0) + 1
        return protected.originals[word]

    restored = protected.pattern.sub(swap, text)
    if require_all:
        for word, line in sorted(protected.lines.items(), key=lambda item: item[1]):
            count = seen.get(word, 0)
            if count == 0 or (count > 1 and word in protected.statements):
                raise TemplateProblem(
                    "MJML dropped or repeated this template tag; move it inside "
                    "an mj-text or mj-raw element, or around whole mj-section elements",
                    line=line,
                )
    return restored


def link_marker(protected: Protected, index: int) -> str:
    return protected.marker("l", index)


def contains_marker(protected: Protected, value: str) -> bool:
    return protected.pattern.search(value) is not None
