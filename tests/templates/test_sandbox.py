"""The sandbox: attack payloads fail loudly, only allowed filters exist, work is bounded."""

from __future__ import annotations

from typing import Any

import pytest

from maily.templates import RenderError, RenderLimits, TemplateProblem, compile_template
from maily.templates.sandbox import ALLOWED_FILTERS

SECRET = "s3cr3t-value-that-must-never-appear"


def render(source: str, limits: RenderLimits | None = None, **variables: Any) -> str:
    compiled = compile_template(source, "html", subject="s", limits=limits)
    return compiled.render(variables, click_url=lambda i: compiled.links[i]).html


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os.environ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ self.__init__.__globals__ }}",
        "{{ contact.__class__ }}",
        "{{ contact['__class__'] }}",
        "{{ contact.items.__self__ }}",
        "{{ range.__call__ }}",
        "{{ range(3).__class__ }}",
        "{{ (contact | list).__class__ }}",
        "{{ '{0.__class__}'.format(contact) }}",
        "{{ contact.pop('email') }}",
        "{% for c in ''.__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ config.items() }}",
    ],
)
def test_attack_payloads_fail_and_leak_nothing(payload: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(payload, contact={"email": "a@b.c", "secret": SECRET})
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "payload",
    ["{{ lipsum.__globals__ }}", "{{ request.application.__globals__ }}", "{{ config }}"],
)
def test_names_outside_the_variables_are_empty(payload: str) -> None:
    html = render(payload, contact={"secret": SECRET})
    assert html == "<html><head></head><body></body></html>"


def test_a_sandbox_violation_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(RenderError, match="__class__"):
        render("{{ ''.__class__ }}")


def test_variables_offer_no_methods_beyond_the_allowed() -> None:
    assert render("{{ name.upper() }} {{ d.get('k') }}", name="ann", d={"k": "v"}).count("ANN v")
    with pytest.raises(RenderError, match="not allowed"):
        render("{{ d.update({'k': 1}) }}", d={"k": "v"})
    with pytest.raises(RenderError, match="not allowed"):
        render("{{ name.ljust(10000000) }}", name="ann")


@pytest.mark.parametrize("name", ["safe", "attr", "map", "format", "center", "indent", "tojson"])
def test_filters_outside_the_allow_list_do_not_exist(name: str) -> None:
    assert name not in ALLOWED_FILTERS
    with pytest.raises(TemplateProblem, match=f"No filter named '{name}'") as caught:
        compile_template(f"<p>\n{{{{ x | {name} }}}}</p>", "html", subject="s")
    assert caught.value.line == 2


def test_allowed_filters_work() -> None:
    html = render(
        "{{ n | upper }}|{{ n | title }}|{{ xs | join(', ') }}|{{ n | truncate(5, True, '') }}"
        "|{{ xs | length }}|{{ n | replace('a', 'o') }}|{{ ' pad ' | trim }}",
        n="banana split",
        xs=["a", "b"],
    )
    assert "BANANA SPLIT|Banana Split|a, b|banan|2|bonono split|pad" in html


def test_fallbacks_fill_missing_and_empty_values() -> None:
    source = (
        '<p>Hi {{ contact.first_name | default("there") }}, '
        '{{ contact.nickname | default("friend") }}, {{ contact.city.name }}.</p>'
        '<p>{{ contact.last_name | default("none", true) }}</p>'
    )
    html = render(source, contact={"first_name": "", "last_name": ""})
    assert "Hi , friend, ." in html  # default() without true keeps an empty string
    assert "<p>none</p>" in html
    assert "Hi Ann" in render(source, contact={"first_name": "Ann", "last_name": "L"})


def test_merge_data_is_escaped_and_autoescape_cannot_be_turned_off() -> None:
    html = render("<p>{{ name }}</p>", name='<script>alert("x")</script>')
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    with pytest.raises(TemplateProblem, match="autoescape") as caught:
        compile_template("{% autoescape false %}{{ x }}{% endautoescape %}", "html")
    assert caught.value.line == 1


def test_huge_range_fails_clearly() -> None:
    with pytest.raises(RenderError, match=r"range\(\) is limited"):
        render("{% for x in range(10**9) %}{{ x }}{% endfor %}")


def test_runaway_loops_stop_at_the_time_limit() -> None:
    source = "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"
    with pytest.raises(RenderError, match=r"longer than 0\.05 s"):
        render(source, limits=RenderLimits(timeout_seconds=0.05))


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 10**8 }}",
        "{{ 'x' * 3000 }}",
        "{% for i in range(5000) %}xxxxxxxxxx{% endfor %}",
        "{% set a = 'x' * 2000 %}{% set b = a ~ a %}{% set c = b ~ b %}{{ c ~ c }}",
        "{{ ('x' * 2000 + 'x' * 2000) }}",
        "{{ ('a' * 100) | replace('a', 'b' * 100) }}",
        "{{ range(1000) | join('x' * 100) }}",
    ],
)
def test_output_is_bounded(source: str) -> None:
    with pytest.raises(RenderError, match=r"limit|larger than"):
        render(source, limits=RenderLimits(max_output_chars=3000))


def test_powers_and_printf_formatting_are_bounded() -> None:
    with pytest.raises(RenderError, match="exponents"):
        render("{{ 2 ** 100000 }}")
    with pytest.raises(RenderError, match="formatting"):
        render("{{ '%999999999d' % 1 }}")


def test_extends_import_and_dynamic_include_are_refused() -> None:
    for source in ('{% extends "base" %}', '{% import "x" as y %}', "{% include name %}"):
        with pytest.raises(TemplateProblem):
            compile_template(source, "html")


def test_bad_data_for_one_message_is_a_render_error_for_that_message() -> None:
    compiled = compile_template("<p>{{ contact.age + 1 }}</p>", "html", subject="s")
    assert "<p>41</p>" in compiled.render({"contact": {"age": 40}}, click_url=str).html
    with pytest.raises(RenderError) as caught:
        compiled.render({"contact": {"age": "forty"}}, click_url=str)
    assert caught.value.part == "source"
    assert caught.value.detail()["type"] == "template_render"
