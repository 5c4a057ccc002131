"""Compile once, render many: MJML, CSS inlining, text part, layouts, blocks, links, pixel."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from maily.templates import (
    COMPILE_STATS,
    TemplateProblem,
    compile_template,
    contact_variables,
    merge_variables,
    workspace_variables,
)
from maily.tracking.tokens import TokenSigner

MJML = """<mjml>
  <mj-head>
    <mj-style inline="inline">.lead { color: #ff0000; }</mj-style>
  </mj-head>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text css-class="lead">Hello {{ contact.first_name | default("there") }}!</mj-text>
        <mj-button href="https://shop.example.com/sale?utm=1&amp;x=2">Shop now</mj-button>
        {% for item in contact.picks %}
        <mj-text><a href="https://shop.example.com/item">{{ item }}</a></mj-text>
        {% endfor %}
        <mj-text>
          <a href="{{ unsubscribe_url }}">Unsubscribe</a>
          <a href="mailto:help@example.com">Mail us</a>
          <a href="https://example.com/private" data-no-track>Private</a>
          <a href="https://example.com/u/{{ contact.email }}">Personal</a>
          <a href="https://shop.example.com/item">Again</a>
        </mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""


def variables(first_name: str = "Ann", picks: tuple[str, ...] = ("Boots", "Hat")) -> dict[str, Any]:
    contact = contact_variables("ann@example.com", first_name, "Lee", {"plan": "pro"})
    contact["picks"] = list(picks)
    return merge_variables(
        contact=contact,
        workspace=workspace_variables("Acme", "1 Main St, Springfield"),
        unsubscribe_url="https://maily.example/u/abc",
    )


def hrefs(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'<a [^>]*href="([^"]*)"', html)]


def test_mjml_compiles_to_html_with_css_inlined_and_merge_tags_rendered() -> None:
    compiled = compile_template(MJML, "mjml", subject="Hi {{ contact.first_name }}")
    message = compiled.render(variables(), click_url=lambda i: compiled.links[i])
    assert message.subject == "Hi Ann"
    assert message.html.lower().startswith("<!doctype html>")
    assert "<mj-" not in message.html
    assert "Hello Ann!" in message.html
    # The mj-style rule now sits on the element itself.
    assert re.search(r'class="lead"[^>]*style="[^"]*color:\s*#ff0000', message.html)
    assert message.html.count("Boots") == 1
    assert "Hat" in message.html


def test_links_are_rewritten_to_signed_urls_by_index_and_the_pixel_is_added() -> None:
    compiled = compile_template(MJML, "mjml", subject="s")
    # Tracked once each, in document order; personalised, mailto and no-track links are not.
    assert compiled.links == [
        "https://shop.example.com/sale?utm=1&x=2",
        "https://shop.example.com/item",
    ]
    signer = TokenSigner(b"k" * 32)
    delivery = uuid.uuid4()
    message = compiled.render(
        variables(),
        click_url=lambda i: signer.click_url("https://t.example", delivery, i, delivery),
        open_url=signer.open_url("https://t.example", delivery),
    )
    links = hrefs(message.html)
    tracked = [h for h in links if h.startswith("https://t.example/t/c/")]
    assert len(tracked) == 4  # the button, two loop items, "Again"
    for href in tracked:
        payload = signer.verify(href.rsplit("/", 1)[1])
        assert payload is not None
        assert payload.delivery_id == delivery
        assert compiled.links[payload.link_index or 0].startswith("https://shop.example.com/")
    assert "https://maily.example/u/abc" in links
    assert "mailto:help@example.com" in links
    assert "https://example.com/private" in links
    assert "https://example.com/u/ann@example.com" in links
    assert "data-no-track" not in message.html
    pixel = re.search(
        r'<img src="(https://t\.example/t/o/[^"]+\.gif)" width="1" height="1"', message.html
    )
    assert pixel is not None
    assert message.html.index(pixel.group(0)) > message.html.index("Unsubscribe")
    # No open URL, no pixel (previews).
    assert "/t/o/" not in compiled.render(variables(), click_url=str).html


def test_text_part_is_made_at_compile_time_and_personalised_per_message() -> None:
    compiled = compile_template(MJML, "mjml", subject="s")
    assert compiled.text_source is not None
    fallbacks = COMPILE_STATS.text_fallback_renders
    message = compiled.render(variables("Bea", ("Scarf",)), click_url=lambda i: f"https://t/{i}")
    assert "Hello Bea!" in message.text
    assert "[Shop now](https://t/0)" in message.text
    assert "[Scarf](https://t/1)" in message.text
    assert "https://maily.example/u/abc" in message.text
    assert "<td" not in message.text
    assert "<a " not in message.text
    assert COMPILE_STATS.text_fallback_renders == fallbacks


def test_compile_happens_once_for_a_thousand_messages() -> None:
    compiles = COMPILE_STATS.compiles
    compiled = compile_template(MJML, "mjml", subject="Hi {{ contact.first_name }}", preheader="p")
    assert COMPILE_STATS.compiles == compiles + 1
    parses = [env.parses for env in compiled.environments]
    fallbacks = COMPILE_STATS.text_fallback_renders
    subjects = set()
    for n in range(1000):
        message = compiled.render(
            variables(f"P{n}"), click_url=lambda i, n=n: f"https://t/{n}/{i}", open_url="https://o"
        )
        subjects.add(message.subject)
        assert f"https://t/{n}/0" in message.html
    assert len(subjects) == 1000
    assert COMPILE_STATS.compiles == compiles + 1
    assert [env.parses for env in compiled.environments] == parses
    assert COMPILE_STATS.text_fallback_renders == fallbacks


def test_html_source_keeps_loops_in_tables_and_literal_braces() -> None:
    source = (
        "<html><head><style>td.p { padding: 4px }</style></head><body><table>"
        '{% for row in rows %}<tr><td class="p">{{ row }}</td></tr>{% endfor %}</table>'
        "<p>&#123;&#123; not a tag }}</p></body></html>"
    )
    compiled = compile_template(source, "html", subject="s")
    message = compiled.render({"rows": ["r1", "r2", "r3"]}, click_url=str)
    assert message.html.count('style="padding: 4px') == 3
    assert re.search(r"<table>.*r1.*r2.*r3.*</table>", message.html, re.DOTALL)
    assert "{{ not a tag }}" in message.html
    assert "r3" in message.text


def test_preheader_is_hidden_after_body_and_escaped() -> None:
    compiled = compile_template(
        "<p>Body</p>", "html", subject="s", preheader="Deals for {{ contact.first_name }}"
    )
    html = compiled.render(variables("<b>Ann</b>"), click_url=str).html
    body = html.index("<body")
    hidden = html.index("display:none")
    assert body < hidden < html.index("Body")
    assert "Deals for &lt;b&gt;Ann&lt;/b&gt;" in html


def test_subject_is_one_header_line() -> None:
    compiled = compile_template(
        "<p>x</p>", "html", subject="Hi\r\n{{ contact.first_name }}\nBcc: x"
    )
    assert compiled.render(variables("A\r\nB"), click_url=str).subject == "Hi A B Bcc: x"


def test_layout_wraps_the_template_and_blocks_are_included_by_name() -> None:
    layout = (
        '<html><body><div class="frame">{% block content %}default{% endblock %}</div>'
        '{% include "footer" %}</body></html>'
    )
    blocks = {
        "footer": '<p class="footer">{{ workspace.postal_address }} {% include "legal" %}</p>',
        "legal": '<a href="https://example.com/terms">Terms</a>',
    }
    compiled = compile_template(
        "<h1>{{ contact.first_name }}</h1>",
        "html",
        subject="s",
        layout_source=layout,
        blocks=blocks,
    )
    html = compiled.render(variables(), click_url=lambda i: f"https://t/{i}").html
    assert re.search(r'<div class="frame"><h1>Ann</h1></div>', html)
    assert "default" not in html
    assert "1 Main St, Springfield" in html
    assert compiled.links == ["https://example.com/terms"]
    assert 'href="https://t/0"' in html


def test_mjml_layout_and_block() -> None:
    layout = (
        "<mjml><mj-body>{% block content %}{% endblock %}"
        '<mj-section><mj-column>{% include "footer" %}</mj-column></mj-section></mj-body></mjml>'
    )
    compiled = compile_template(
        "<mj-section><mj-column><mj-text>Inside</mj-text></mj-column></mj-section>",
        "mjml",
        subject="s",
        layout_source=layout,
        blocks={"footer": "<mj-text>{{ workspace.name }} footer</mj-text>"},
    )
    html = compiled.render(variables(), click_url=str).html
    assert html.index("Inside") < html.index("Acme footer")


@pytest.mark.parametrize(
    ("kwargs", "part", "line", "message"),
    [
        ({"source": "<p>\n\n{% if x %}\n<b>"}, "source", 3, "endif"),
        ({"source": "<p>\n{{ x | nope }}</p>"}, "source", 2, "No filter named 'nope'"),
        ({"source": "<p>\n{{ x + }}</p>"}, "source", 2, ""),
        ({"source": "<p>ok</p>", "subject": "Hi {{ name"}, "subject", 1, ""),
        ({"source": '<p>\n{% include "missing" %}</p>'}, "source", 2, 'no block named "missing"'),
        ({"source": "<td\n {% if x %}class=a{% endif %}>"}, "source", 2, "between an HTML tag"),
        ({"source": "<p>x</p>", "layout_source": "<div></div>"}, "layout", None, "block content"),
        (
            {"source": '{% include "a" %}', "blocks": {"a": '{% include "a" %}'}},
            "block a",
            1,
            "includes itself",
        ),
        ({"source": "<p>x</p>", "blocks": {"b": "x\n{% for %}"}}, None, None, None),
    ],
)
def test_problems_name_the_part_and_line(
    kwargs: dict[str, Any], part: str | None, line: int | None, message: str | None
) -> None:
    source = kwargs.pop("source")
    if part is None:  # an unused broken block does not matter
        compile_template(source, "html", **kwargs)
        return
    with pytest.raises(TemplateProblem) as caught:
        compile_template(source, "html", **kwargs)
    assert caught.value.part == part
    assert caught.value.line == line
    assert message in caught.value.message


def test_invalid_mjml_is_reported() -> None:
    with pytest.raises(TemplateProblem, match="not valid MJML"):
        compile_template("<mjml><mj-body><mj-section>", "mjml")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            '{% macro b(t) %}<b>{{ t }}</b>{% endmacro %}<p>{{ b("x") }}</p>',
            "<body><p><b>x</b></p></body>",
        ),
        (
            '{% if vip %}<p class="{% if vip %}v{% endif %}">VIP</p>{% endif %}<p>all</p>',
            'body><p class="v">VIP</p><p>all</p>',
        ),
        ("<p>{% raw %}{{ kept }}{% endraw %}{# gone #}</p>", "<p>{{ kept }}</p>"),
    ],
)
def test_statements_keep_their_place_in_fragments(source: str, expected: str) -> None:
    compiled = compile_template(source, "html", subject="s")
    assert expected in compiled.render({"vip": True}, click_url=str).html
