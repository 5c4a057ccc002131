"""Validation of generated templates, piece by piece: template code, sanitising, the
domains a draft may link to."""

from __future__ import annotations

import pytest

from maily.ai.contracts import Brand
from maily.ai.mesh.validation import (
    Allowed,
    allowed_hosts_in,
    check_template_code,
    fields_used,
    sanitise_html,
    validate_template,
)
from tests.ai.mesh.support import BRAND, GOOD_MJML

ALLOWED = Allowed(hosts=frozenset({"acmetea.example"}), fields=frozenset({"plan"}))


@pytest.mark.parametrize(
    "source",
    [
        "Hello {{ contact.first_name | default('there') | title }}",
        "{{ contact.fields.plan }} {{ contact.plan }} {{ contact.full_name }}",
        "{% if contact.first_name %}Hi {{ contact.first_name }}{% else %}Hi{% endif %}",
        "{{ workspace.postal_address }} {{ unsubscribe_url }} {{ campaign.subject }}",
        "{% if contact.tags is defined and 'vip' in contact.tags %}VIP{% endif %}",
    ],
)
def test_merge_variables_and_if_are_allowed(source: str) -> None:
    assert check_template_code(source, ALLOWED) == []


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("{{ ''.__class__.__mro__ }}", "''.__class__.__mro__"),
        ("{{ cycler.__init__.__globals__ }}", "cycler"),
        ("{{ contact.secret }}", "contact.secret"),
        ("{{ contact.fields.secret }}", "contact.fields.secret"),
        ("{{ config }}", "config"),
        ("{{ unsubscribe_url.replace }}", "unsubscribe_url.replace"),
        ("{% for x in range(9) %}{% endfor %}", "for"),
        ("{% set x = 1 %}", "assign"),
        ("{% include 'footer' %}", "include"),
        ("{{ contact.first_name | safe }}", "safe"),
        ("{{ contact.first_name.upper() }}", "call"),
        ("{{ contact['first_name'] }}", "getitem"),
        ("{% macro m() %}{% endmacro %}", "macro"),
        ("{{ 'a' * 100000000 }}", "mul"),
        ("{{ unclosed", "does not parse"),
    ],
)
def test_anything_else_is_a_finding(source: str, needle: str) -> None:
    findings = check_template_code(source, ALLOWED, "body")
    assert findings, source
    assert all(f.severity == "error" and f.check == "template_code" for f in findings)
    assert any(needle in f.message for f in findings), [f.message for f in findings]


def test_fields_used_by_an_original() -> None:
    assert fields_used("{{ contact.fields.plan }} {{ contact.tier }} {{ contact.email }}") == {
        "plan",
        "tier",
    }


def test_allowed_hosts_from_brief_brand_and_template() -> None:
    hosts = allowed_hosts_in(
        [
            "Link to https://shop.acmetea.example/autumn and see acmetea.example",
            "https://www.tea.example",
        ]
    )
    assert hosts == {"shop.acmetea.example", "acmetea.example", "tea.example"}
    allowed = Allowed(hosts=hosts)
    assert allowed.host_allowed("cdn.acmetea.example")
    assert allowed.host_allowed("www.tea.example")
    assert not allowed.host_allowed("acmetea.example.evil.example")
    assert not allowed.host_allowed("evilacmetea.example")


def test_sanitise_keeps_email_html_and_strips_what_runs() -> None:
    html = (
        "<html><head><style>.x{color:red}</style></head><body>"
        '<table width="600" cellpadding="0" style="background:#fff"><tr><td align="center">'
        '<img src="https://cdn.acmetea.example/a.png" alt="Tea" width="120" onerror="x()">'
        '<a href="https://acmetea.example" target="_blank" onclick="steal()">Shop</a>'
        '<a href="javascript:alert(1)">js</a><a href="data:text/html,hi">data</a>'
        "<script>alert(1)</script><iframe src='https://evil.example'></iframe>"
        '<form action="https://evil.example"><input name="card"></form>'
        "</td></tr></table></body></html>"
    )
    clean = sanitise_html(html)
    for kept in (
        "<style>",
        'width="600"',
        'style="background:#fff"',
        'alt="Tea"',
        'target="_blank"',
    ):
        assert kept in clean
    assert 'href="https://acmetea.example"' in clean
    for gone in (
        "onerror",
        "onclick",
        "javascript:",
        "data:text",
        "<script",
        "alert(",
        "<iframe",
        "<form",
        "<input",
    ):
        assert gone not in clean


async def test_a_valid_template_renders_with_sample_data() -> None:
    validated = await validate_template(
        GOOD_MJML,
        subject="Hi {{ contact.first_name }}",
        preheader="Autumn",
        brand=BRAND,
        allowed=Allowed(hosts=allowed_hosts_in(["https://shop.acmetea.example", BRAND.logo_url])),
    )
    assert validated.report.passed, validated.report.findings
    assert validated.compiled
    assert validated.subject == "Hi {{ contact.first_name }}"
    assert "Hello Jane" in validated.text
    assert BRAND.postal_address in validated.html


async def test_a_brand_without_address_fails_the_check() -> None:
    validated = await validate_template(
        GOOD_MJML,
        subject="Autumn teas",
        preheader="",
        brand=Brand(name="Acme Tea"),
        allowed=Allowed(hosts=frozenset({"acmetea.example"})),
    )
    assert [f.check for f in validated.errors] == ["postal_address"]
