"""The deterministic content checks: each rule finds what it should, and a clean
message (as template source or rendered) passes."""

from __future__ import annotations

import pytest

from maily.ai.checks.compliance import (
    check_content,
    check_html_links_and_images,
    spam_phrases,
    url_shorteners,
)
from maily.ai.contracts import Brand, CheckReport
from maily.templates import compile_template, merge_variables, sample_contact, workspace_variables

BRAND = Brand(name="Acme Tea", postal_address="12 Leaf Street, Teatown, TT1 2AB")

FOOTER = (
    '<p>Acme Tea, {{ workspace.postal_address }}</p><p><a href="{{ unsubscribe_url }}">'
    'Unsubscribe</a> | <a href="{{ preferences_url }}">Preferences</a></p>'
)
BODY = (
    "<p>Our autumn blends are here: smoky lapsang, a bright first-flush darjeeling and a "
    "new rooibos with orange peel. Each tin is packed the week it ships.</p>"
    '<p><a href="https://shop.acmetea.example/autumn">See the autumn blends</a></p>'
)


def run(
    *, subject: str = "Autumn blends have arrived", html: str = BODY + FOOTER, text: str = "", **kw
) -> CheckReport:
    return check_content(
        subject=subject, preheader="Three new teas", html=html, text=text, brand=BRAND, **kw
    )


def checks(report: CheckReport, severity: str | None = None) -> set[str]:
    return {f.check for f in report.findings if severity is None or f.severity == severity}


def test_clean_template_source_passes() -> None:
    report = run()
    assert report.passed
    assert report.findings == []


def test_rendered_preview_passes_with_its_unsubscribe_url() -> None:
    source = f"<mjml><mj-body><mj-section><mj-column><mj-text>{BODY}{FOOTER}</mj-text></mj-column></mj-section></mj-body></mjml>"
    compiled = compile_template(source, "mjml", subject="Autumn blends have arrived")
    urls = {
        "unsubscribe_url": "https://maily.example/preview/unsubscribe",
        "preferences_url": "https://maily.example/preview/preferences",
        "view_online_url": "https://maily.example/preview/view-online",
    }
    variables = merge_variables(
        contact=sample_contact(),
        workspace=workspace_variables("Acme Tea", BRAND.postal_address),
        **urls,
    )
    rendered = compiled.render(variables, click_url=lambda i: compiled.links[i])
    report = check_content(
        subject=rendered.subject,
        preheader="",
        html=rendered.html,
        text=rendered.text,
        brand=BRAND,
        unsubscribe_urls=[urls["unsubscribe_url"], urls["preferences_url"]],
    )
    assert report.passed, report.findings
    # without knowing the preview URLs the rendered link is only recognised by its words
    blind = check_content(
        subject=rendered.subject, preheader="", html=rendered.html, text="", brand=BRAND
    )
    assert checks(blind, "warning") == {"unsubscribe_link"}


def test_missing_unsubscribe_link_is_an_error() -> None:
    report = run(html=BODY + "<p>{{ workspace.postal_address }}</p>")
    assert not report.passed
    finding = next(f for f in report.findings if f.check == "unsubscribe_link")
    assert finding.severity == "error"
    assert "{{ unsubscribe_url }}" in finding.message


def test_own_unsubscribe_link_is_a_warning() -> None:
    html = (
        BODY
        + '<p>{{ workspace.postal_address }} <a href="https://acmetea.example/optout">Unsubscribe</a></p>'
    )
    report = run(html=html)
    assert report.passed
    assert checks(report) == {"unsubscribe_link"}


def test_preferences_link_counts_as_unsubscribe() -> None:
    html = BODY + '<p>{{ workspace.postal_address }} <a href="{{preferences_url}}">Manage</a></p>'
    assert run(html=html).passed


def test_postal_address_by_brand_value_or_variable() -> None:
    no_address = BODY + '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    report = run(html=no_address)
    assert checks(report, "error") == {"postal_address"}
    written = no_address + "<p>12 Leaf Street,<br>Teatown,  TT1 2AB</p>"
    assert run(html=written).passed
    in_text = run(html=no_address, text="Acme Tea\n12 Leaf Street, Teatown, TT1 2AB\n")
    assert in_text.passed
    unknown = check_content(
        subject="Autumn blends", preheader="", html=no_address, text="", brand=Brand()
    )
    message = next(f.message for f in unknown.findings if f.check == "postal_address")
    assert "workspace's postal address" in message


@pytest.mark.parametrize("subject", ["RE: your order", "Fwd: Autumn blends", "fw: hello there"])
def test_reply_or_forward_prefix_on_first_send_is_an_error(subject: str) -> None:
    report = run(subject=subject)
    assert "subject_misleading" in checks(report, "error")
    assert run(subject=subject, first_send=False).passed


def test_subject_caps_punctuation_and_length() -> None:
    assert "subject_caps" in checks(run(subject="AUTUMN BLENDS ARE HERE"), "warning")
    assert "subject_punctuation" in checks(run(subject="Autumn blends are here!!"))
    assert "subject_punctuation" in checks(run(subject="Really? Really??"))
    assert "subject_punctuation" not in checks(run(subject="Autumn blends are here!"))
    long = run(subject="Autumn " * 14)
    assert "subject_length" in checks(long, "warning")
    assert long.passed
    assert "subject" in checks(run(subject="   "), "error")
    # merge tags are not capital letters
    assert run(subject="{{ contact.first_name | default('FRIEND') }}, autumn is here").passed


def test_spam_phrases_come_from_the_data_file() -> None:
    phrases = {phrase: weight for phrase, weight, _ in spam_phrases()}
    assert phrases["100% free"] == 5
    assert len(phrases) > 50
    assert "bit.ly" in url_shorteners()


def test_strong_spam_phrase_is_an_error_and_light_ones_add_up() -> None:
    strong = run(html=BODY + "<p>It is 100% free and risk-free.</p>" + FOOTER)
    assert not strong.passed
    found = [f for f in strong.findings if f.check == "spam_phrase"]
    assert {f.severity for f in found} == {"error"}
    assert any('"100% free"' in f.message for f in found)
    light = run(html=BODY + "<p>A free sample.</p>" + FOOTER)
    assert light.passed
    assert light.findings == []
    pile = run(
        subject="Free bonus deal on sale",
        html=BODY
        + "<p>Free bonus: a deal, an offer, save on the sale, a discount, cash.</p>"
        + FOOTER,
    )
    assert "spam_phrases" in checks(pile, "error")
    # whole words only: "freedom" is not "free", "saved" is not "save"
    assert run(html=BODY + "<p>Freedom in every cup, saved for you.</p>" + FOOTER).findings == []


@pytest.mark.parametrize(
    ("href", "text", "check", "severity"),
    [
        ("http://shop.acmetea.example/x", "Shop", "link_insecure", "warning"),
        ("https://192.168.4.20/login", "Shop", "link_ip", "error"),
        ("https://[2001:db8::1]/login", "Shop", "link_ip", "error"),
        ("https://bit.ly/3xYz", "Shop", "link_shortener", "error"),
        ("https://evil.example/pay", "https://acmetea.example/pay", "link_mismatch", "error"),
        ("https://evil.example/pay", "www.acmetea.example", "link_mismatch", "error"),
        ("https://evil.example/pay", "acmetea.example", "link_mismatch", "error"),
        ("javascript:alert(1)", "Shop", "link_scheme", "error"),
        ("JavaScript:alert(1)", "Shop", "link_scheme", "error"),
        ("data:text/html;base64,PHNjcmlwdD4=", "Shop", "link_scheme", "error"),
    ],
)
def test_bad_links(href: str, text: str, check: str, severity: str) -> None:
    report = run(html=BODY + f'<a href="{href}">{text}</a>' + FOOTER)
    assert check in checks(report, severity), report.findings
    finding = next(f for f in report.findings if f.check == check)
    assert finding.where.startswith(href[:20])


def test_good_links_are_not_flagged() -> None:
    html = (
        BODY
        + '<a href="https://www.acmetea.example/x">acmetea.example</a>'
        + '<a href="https://shop.acmetea.example/y">Visit www.acmetea.example</a>'
        + '<a href="mailto:hello@acmetea.example">hello@acmetea.example</a>'
        + '<a href="https://acmetea.example/{{ contact.fields.account }}">Account</a>'
        + '<a href="#top">Top</a><a href="https://acmetea.example">Read the file.pdf guide</a>'
        + FOOTER
    )
    assert run(html=html).findings == []


def test_too_many_links_is_a_warning() -> None:
    links = "".join(f'<a href="https://acmetea.example/{i}">Tea {i}</a>' for i in range(31))
    report = run(html=BODY + links + FOOTER)
    assert checks(report) == {"link_count"}
    assert report.passed


def test_images_alt_http_and_text_ratio() -> None:
    images = (
        '<img src="https://cdn.acmetea.example/a.png">'
        '<img src="http://cdn.acmetea.example/b.png" alt="Tins">'
        '<img src="https://cdn.acmetea.example/c.png" alt="">'
    )
    report = run(html=BODY + images + FOOTER)
    found = [(f.check, f.where) for f in report.findings]
    assert ("image_alt", "https://cdn.acmetea.example/a.png") in found
    assert ("image_alt", "https://cdn.acmetea.example/c.png") in found
    assert ("image_insecure", "http://cdn.acmetea.example/b.png") in found
    assert "image_ratio" in checks(report, "warning")
    # a tracking pixel needs no alt text
    pixel = '<img src="https://t.example/o.gif" width="1" height="1">'
    assert run(html=BODY + pixel + FOOTER).findings == []


def test_image_only_email_is_an_error() -> None:
    html = '<img src="https://cdn.acmetea.example/flyer.png" alt="">' + (
        '<a href="{{ unsubscribe_url }}"></a>{{ workspace.postal_address }}'
    )
    report = run(html=html)
    assert "image_only" in checks(report, "error")


def test_links_and_images_alone() -> None:
    found = check_html_links_and_images(
        '<a href="https://bit.ly/x">x</a><img src="http://a.example/i.png" alt="i">', ""
    )
    assert {f.check for f in found} == {"link_shortener", "image_insecure", "image_only"}


def test_every_finding_says_what_to_fix() -> None:
    html = '<a href="http://1.2.3.4/x">bit.ly</a><img src="http://x.example/a.png">'
    report = check_content(
        subject="RE: WIN CASH NOW!!!", preheader="", html=html, text="", brand=Brand()
    )
    assert not report.passed
    assert len(report.findings) >= 6
    for finding in report.findings:
        assert finding.severity in ("error", "warning")
        assert len(finding.message) > 30


def test_subject_alone() -> None:
    from maily.ai.checks.compliance import check_subject

    assert check_subject("Autumn blends have arrived", "Three new teas") == []
    found = {f.check for f in check_subject("FWD: 100% FREE TEA!!")}
    assert {"subject_misleading", "subject_caps", "subject_punctuation", "spam_phrase"} <= found
