"""Direct rendering: a template that only outputs values renders without Jinja's
per-render machinery, and gives exactly what Jinja gives, errors included."""

from __future__ import annotations

from typing import Any

import pytest
from markupsafe import Markup

from maily.templates import compile_template
from maily.templates.sandbox import SecurityError, TemplateEnvironment

CONTACT = {
    "email": "zoe@example.org",
    "first_name": "Zoë <b>",
    "last_name": "",
    "plan": "gold",
    "score": 42,
    "vip": True,
    "nested": {"city": "Köln & Bonn"},
    "tags": ["a", "b"],
}
VARIABLES: dict[str, Any] = {
    "contact": CONTACT,
    "workspace": {"name": "Ærø & Co", "postal_address": "1 Main St"},
    "unsubscribe_url": "https://x.test/u/tok?a=1&b=2",
    "_mly_links": ["https://x.test/c/0?a=1&b=2", 'https://x.test/c/1"', "https://x.test/c/2"],
    "_mly_open_url": "https://x.test/o.gif",
    "_mly_preheader": "",
    "safe": Markup("<i>kept</i>"),
}

DIRECT = [
    "plain text only",
    "",
    "Hello {{ contact.first_name }} {{ contact.last_name }}!",
    '{{ contact.first_name | default("there") }}, {{ contact.missing | default("there") }}',
    "{{ contact.last_name | default('there', true) }}",
    "{{ contact.missing }}|{{ nobody }}|{{ nobody.at.all }}|{{ contact.nested.city }}",
    "{{ contact['plan'] }} {{ contact.nested['city'] }} {{ contact.tags[1] }} {{ contact.tags[9] }}",
    "{{ contact.score }} {{ contact.vip }} {{ 7 }} {{ 'a<b' }} {{ none }} {{ contact.tags }}",
    "{{ contact.first_name | upper }} {{ contact.plan | title | lower }} {{ contact.score | int }}",
    "{{ contact.first_name | e }} {{ safe }} {{ safe | upper }}",
    "{{ contact.items }}",
    "{{ range }}",
    '<a href="{{ _mly_links[0] }}">x</a><a href="{{ _mly_links[1] }}">{{ _mly_links[2] }}</a>',
    "{{ _mly_links[0] }}{{ _mly_links[7] }}",
    "{% if contact.vip %}VIP {{ contact.plan }}{% endif %}.",
    "{% if contact.missing %}a{% elif not contact.vip %}b{% elif contact.plan %}c{% else %}d{% endif %}",
    "{% if contact.last_name %}x{% else %}{{ contact.email }}{% endif %}",
    '{% if _mly_open_url %}<img src="{{ _mly_open_url }}">{% endif %}',
    "{# a comment #}{{ contact.email }}{%- if contact.vip %}  trimmed  {% endif -%}  x",
]

NOT_DIRECT = [
    "{% for tag in contact.tags %}{{ tag }}{% endfor %}",
    "{{ contact.first_name ~ '!' }}",
    "{{ contact.score + 1 }}",
    "{{ 'a' if contact.vip else 'b' }}",
    "{{ contact.email.upper() }}",
    "{% set x = 1 %}{{ x }}",
    "{{ contact.tags | join(', ') }}",
    "{{ contact.plan | replace('g', 'G') }}",
    "{{ contact.email | truncate(5) }}",
    "{{ contact.first_name | default(contact.email) }}",
    "{% if contact.score > 3 %}big{% endif %}",
]


@pytest.mark.parametrize("autoescape", [True, False], ids=["html", "text"])
@pytest.mark.parametrize("source", DIRECT)
def test_direct_rendering_gives_what_jinja_gives(source: str, autoescape: bool) -> None:
    environment = TemplateEnvironment(autoescape=autoescape)
    direct = environment.prepare(source)
    jinja = environment.prepare(source, direct=False)
    assert direct.direct is not None
    assert jinja.direct is None
    assert direct.render(VARIABLES, 10_000) == jinja.render(VARIABLES, 10_000)


@pytest.mark.parametrize("source", NOT_DIRECT)
def test_everything_else_is_left_to_jinja(source: str) -> None:
    prepared = TemplateEnvironment(autoescape=True).prepare(source)
    assert prepared.direct is None
    assert prepared.render(VARIABLES, 10_000) == TemplateEnvironment(autoescape=True).prepare(
        source, direct=False
    ).render(VARIABLES, 10_000)


@pytest.mark.parametrize(
    "source",
    ["{{ contact.__class__ }}", "{{ contact['__class__'] }}", "{{ contact.items.__self__ }}"],
)
def test_the_sandbox_refuses_the_same_reach_into_python(source: str) -> None:
    prepared = TemplateEnvironment(autoescape=True).prepare(source)
    assert prepared.direct is not None
    with pytest.raises(SecurityError):
        prepared.render(VARIABLES, 10_000)


def test_links_that_are_not_a_list_render_as_jinja_would() -> None:
    environment = TemplateEnvironment(autoescape=True)
    source = "[{{ _mly_links[0] }}][{{ _mly_links[1] }}]"
    for links in ({0: "zero"}, ["only one"], "ab", None, [Markup("<m>"), 3]):
        variables = {"_mly_links": links}
        assert environment.prepare(source).render(variables, 1000) == environment.prepare(
            source, direct=False
        ).render(variables, 1000)
    assert environment.prepare(source).render({}, 1000) == "[][]"


def test_a_compiled_campaign_template_renders_directly() -> None:
    compiled = compile_template(
        '<p>Hi {{ contact.first_name | default("there") }}</p>'
        '<a href="https://shop.example.com/a?x=1&amp;y=2">A</a>'
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a> {{ workspace.postal_address }}',
        "html",
        subject="Hello {{ contact.first_name }}",
        preheader="For {{ contact.email }}",
    )
    assert all(
        part is not None and part.direct is not None
        for part in (compiled._subject, compiled._preheader, compiled._html, compiled._text)
    )
    rendered = compiled.render(
        VARIABLES, click_url=lambda i: f"https://t.test/c/{i}?s=1&t=2", open_url="https://t.test/o"
    )
    assert '<a href="https://t.test/c/0?s=1&amp;t=2">A</a>' in rendered.html
    assert "Hi Zoë &lt;b&gt;" in rendered.html
    assert '<img src="https://t.test/o"' in rendered.html
    assert ">For zoe@example.org</div>" in rendered.html
    assert "(https://t.test/c/0?s=1&t=2)" in rendered.text
    assert rendered.subject == "Hello Zoë <b>"
