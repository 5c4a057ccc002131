"""The email pages in the browser: a template's problems by line and its versions; a
block dragged in the visual editor; a campaign made in the wizard, sent to the outbox,
watched live and reported; the AI assistant's failure in words; and another workspace's
campaign stays out of sight; a draft from the assistant, streamed, then accepted."""

from __future__ import annotations

import re
import threading

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.ai.conftest import FAKE_OPENAI_KEY
from tests.ai.fakes import FakeOpenAI
from tests.ai.mesh.support import (
    BODY,
    BRAND,
    FOOTER,
    FOOTER_WITHOUT_ADDRESS,
    NO_CRITIQUE,
    ON_VOICE,
    WORKSPACE_BRAND,
    Router,
    draft,
    mjml,
    plan,
    subjects,
)
from tests.ai.service import fake_provider
from tests.e2e.conftest import Maily, User, screenshot, sign_up_by_api


def signed_in(page: Page, user: User) -> Page:
    page.goto("/signin/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return page


def new_template(page: Page, name: str) -> None:
    """The starter MJML, saved as version 1 of a template called `name`."""
    page.get_by_test_id("nav-templates").click()
    page.get_by_test_id("template-new").click()
    page.get_by_test_id("template-name").fill(name)
    expect(page.get_by_test_id("template-status")).to_have_text("Compiles and renders")
    expect(page.get_by_test_id("template-preview")).to_be_visible()
    page.get_by_test_id("template-save").click()
    expect(page.get_by_test_id("template-saved")).to_be_visible()


def audience(maily: Maily, user: User, contacts: int) -> None:
    """A list with subscribed contacts and a sender, through the API."""
    ws = f"/workspaces/{user.workspace_id}"
    made = httpx.post(maily.api(f"{ws}/lists"), headers=user.headers, json={"name": "Newsletter"})
    assert made.status_code == 201, made.text
    for i in range(contacts):
        contact = httpx.post(
            maily.api(f"{ws}/contacts"),
            headers=user.headers,
            json={
                "email": f"reader{i}@example{i % 3}.test",
                "first_name": f"Reader{i}",
                "status": "subscribed",
                "list_ids": [made.json()["id"]],
            },
        )
        assert contact.status_code == 201, contact.text
    domain = httpx.post(
        maily.api(f"{ws}/sending-domains"),
        headers=user.headers,
        json={"domain": "shop.example.com"},
    )
    assert domain.status_code == 201, domain.text
    sender = httpx.post(
        maily.api(f"{ws}/senders"),
        headers=user.headers,
        json={"from_name": "Shop", "from_email": "news@shop.example.com"},
    )
    assert sender.status_code == 201, sender.text


def test_template_problems_are_shown_by_line_and_each_save_is_a_version(
    context: BrowserContext, page: Page, maily: Maily
) -> None:
    user = sign_up_by_api(maily)
    signed_in(page, user)
    new_template(page, "Welcome")

    page.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n{% if contact.first_name %}")
    errors = page.get_by_test_id("template-errors")
    expect(errors).to_contain_text("Line 18")
    expect(errors).to_contain_text("Unexpected end of template")
    expect(page.locator(".cm-maily-error-line")).to_have_count(1)
    screenshot(page, "email-template-error-by-line")
    page.get_by_test_id("template-save").click()
    expect(page.get_by_test_id("template-save-error")).to_contain_text("line 18")

    page.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Shift+Home")
    page.keyboard.press("Delete")
    page.keyboard.press("Backspace")
    page.get_by_test_id("template-subject").fill("Hello {{ contact.first_name }}")
    expect(page.get_by_test_id("template-status")).to_have_text("Compiles and renders")
    page.get_by_test_id("template-save").click()
    expect(page.get_by_test_id("template-saved")).to_be_visible()
    page.get_by_role("tab", name="Versions").click()
    versions = page.get_by_test_id("template-versions")
    expect(versions).to_contain_text("Version 2 (current)")
    expect(versions).to_contain_text("Version 1")
    listed = httpx.get(
        maily.api(f"/workspaces/{user.workspace_id}/templates"), headers=user.headers
    ).json()["items"]
    assert [(t["name"], t["current_version"]) for t in listed] == [("Welcome", 2)]


def test_a_campaign_from_the_wizard_is_sent_watched_live_and_reported(
    context: BrowserContext, page: Page, maily: Maily
) -> None:
    user = sign_up_by_api(maily)
    audience(maily, user, contacts=12)
    signed_in(page, user)
    page.goto("/templates/edit/")
    page.get_by_test_id("template-name").fill("December")
    page.get_by_test_id("template-subject").fill("News for {{ contact.first_name }}")
    expect(page.get_by_test_id("template-status")).to_have_text("Compiles and renders")
    page.get_by_test_id("template-save").click()
    expect(page.get_by_test_id("template-saved")).to_be_visible()

    page.get_by_test_id("nav-campaigns").click()
    page.get_by_test_id("campaign-new").click()
    page.get_by_test_id("wizard-next").click()
    expect(page.get_by_text("Give the campaign a name")).to_be_visible()
    page.get_by_test_id("campaign-name").fill("December news")
    page.get_by_test_id("campaign-lists").click()
    page.get_by_role("option", name="Newsletter").click()
    page.keyboard.press("Escape")
    page.get_by_test_id("wizard-next").click()
    page.get_by_test_id("campaign-template").click()
    page.get_by_role("option", name="December (MJML)").click()
    expect(page.get_by_test_id("campaign-subject")).to_have_value(
        "News for {{ contact.first_name }}"
    )
    page.get_by_test_id("campaign-sender").click()
    page.get_by_role("option", name="Shop <news@shop.example.com>").click()
    page.get_by_test_id("wizard-next").click()
    page.get_by_test_id("wizard-next").click()

    expect(page.get_by_test_id("campaign-readiness")).to_be_visible()
    page.get_by_test_id("campaign-postal-address").fill("1 Main Street, Springfield")
    page.get_by_test_id("campaign-postal-save").click()
    page.get_by_test_id("campaign-test-emails").fill("me@example.org")
    page.get_by_test_id("campaign-test-send").click()
    expect(page.get_by_test_id("campaign-test-send-results")).to_contain_text("me@example.org")
    expect(page.get_by_test_id("campaign-test-send-results")).to_contain_text("sent")
    screenshot(page, "email-campaign-checks")
    page.get_by_test_id("wizard-next").click()
    page.get_by_test_id("campaign-send").click()

    page.wait_for_url("**/campaigns/view/?id=*")
    expect(page.get_by_test_id("campaign-live")).to_have_text("Live")
    expect(page.get_by_test_id("campaign-status")).to_have_text("sent", timeout=60_000)
    expect(page.get_by_test_id("campaign-progress-text")).to_contain_text("12 of 12 handled")
    expect(page.get_by_test_id("campaign-count-sent")).to_have_text("12")
    screenshot(page, "email-campaign-sent")

    ws = f"/workspaces/{user.workspace_id}"
    campaigns = httpx.get(maily.api(f"{ws}/campaigns"), headers=user.headers).json()["items"]
    assert [(c["name"], c["status"], c["audience_size"]) for c in campaigns] == [
        ("December news", "sent", 12)
    ]
    outbox = httpx.get(maily.api(f"{ws}/outbox"), headers=user.headers, params={"limit": 50})
    assert outbox.status_code == 200, outbox.text
    recipients = {m["recipient"] for m in outbox.json()["items"]}
    assert {f"reader{i}@example{i % 3}.test" for i in range(12)} <= recipients

    page.get_by_test_id("campaign-report-link").click()
    expect(page.get_by_test_id("report-sent")).to_contain_text("12")
    expect(page.get_by_test_id("report-timeline")).to_be_visible()
    page.get_by_role("tab", name="Domains").click()
    expect(page.get_by_test_id("report-domains")).to_contain_text("example0.test")
    screenshot(page, "email-campaign-report")


def test_sending_is_refused_in_words_when_the_content_lacks_what_the_law_requires(
    context: BrowserContext, page: Page, maily: Maily
) -> None:
    user = sign_up_by_api(maily)
    audience(maily, user, contacts=1)
    ws = f"/workspaces/{user.workspace_id}"
    bare = httpx.post(
        maily.api(f"{ws}/templates"),
        headers=user.headers,
        json={
            "name": "Bare",
            "subject": "Hi",
            "source": "<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>",
        },
    )
    assert bare.status_code == 201, bare.text
    signed_in(page, user)
    page.goto("/campaigns/new/")
    page.get_by_test_id("campaign-name").fill("Bare campaign")
    page.get_by_test_id("campaign-lists").click()
    page.get_by_role("option", name="Newsletter").click()
    page.keyboard.press("Escape")
    page.get_by_test_id("wizard-next").click()
    page.get_by_test_id("campaign-template").click()
    page.get_by_role("option", name="Bare (MJML)").click()
    page.get_by_test_id("campaign-sender").click()
    page.get_by_role("option", name="Shop <news@shop.example.com>").click()
    for _ in range(3):
        page.get_by_test_id("wizard-next").click()
    page.get_by_test_id("campaign-send").click()
    refused = page.get_by_test_id("campaign-send-error")
    expect(refused).to_contain_text("unsubscribe link")
    expect(refused).to_contain_text("postal address")
    screenshot(page, "email-campaign-not-ready")
    campaigns = httpx.get(maily.api(f"{ws}/campaigns"), headers=user.headers).json()["items"]
    assert [(c["name"], c["status"]) for c in campaigns] == [("Bare campaign", "draft")]


def test_the_assistant_says_why_it_cannot_answer(
    context: BrowserContext, page: Page, maily: Maily
) -> None:
    """No model provider is configured here, so no draft can be written: the page says
    why next to the form instead of showing a result."""
    user = sign_up_by_api(maily)
    signed_in(page, user)
    page.get_by_test_id("nav-assistant").click()
    page.get_by_test_id("ai-draft-submit").click()
    expect(page.get_by_text("Describe the campaign you want")).to_be_visible()
    page.get_by_test_id("ai-brief").fill("A winter sale, 20% off boots")
    page.get_by_test_id("ai-draft-submit").click()
    error = page.get_by_test_id("ai-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile(r"not available|not answering|provider|model", re.I))
    expect(page.get_by_test_id("ai-draft-result")).to_have_count(0)
    screenshot(page, "email-assistant-unavailable")


def test_the_assistant_streams_a_draft_that_becomes_a_template_once_accepted(
    context: BrowserContext, page: Page, maily: Maily
) -> None:
    """A model provider (the fake OpenAI API) answers each agent of the mesh; the page
    shows the progress while the agents work, then the checked draft, and only
    accepting it makes a template."""
    user = sign_up_by_api(maily)
    ws = f"/workspaces/{user.workspace_id}"
    patched = httpx.patch(
        maily.api(ws),
        headers=user.headers,
        json={"postal_address": BRAND.postal_address, "brand": WORKSPACE_BRAND},
    )
    assert patched.status_code == 200, patched.text
    with FakeOpenAI(api_key=FAKE_OPENAI_KEY) as fake:
        added = httpx.post(
            maily.api(f"{ws}/ai/providers"), headers=user.headers, json=fake_provider(fake)
        )
        assert added.status_code == 201, added.text
        router = Router(
            fake,
            coordinator=[plan("subject_line_specialist", "copywriter", "compliance_critic")],
            subject_line_specialist=[subjects("Three autumn teas are here", "Smoky, bright")],
            copywriter=[draft(mjml(BODY, FOOTER_WITHOUT_ADDRESS)), draft(mjml(BODY, FOOTER))],
            compliance_critic=[NO_CRITIQUE],
            brand_voice=[ON_VOICE],
        )
        # The copywriter answers only once the page shows the plan: progress reaches
        # the browser while the agents are still at work.
        plan_shown = threading.Event()
        router.hold("copywriter", until=plan_shown)
        signed_in(page, user)
        page.get_by_test_id("nav-assistant").click()
        page.get_by_test_id("ai-brief").fill(
            "Announce our three autumn blends; link to https://shop.acmetea.example/autumn"
        )
        page.get_by_test_id("ai-draft-submit").click()
        progress = page.get_by_test_id("ai-progress")
        expect(progress).to_contain_text("plan")
        expect(page.get_by_test_id("ai-draft-result")).to_have_count(0)
        plan_shown.set()

        result = page.get_by_test_id("ai-draft-result")
        expect(result).to_be_visible(timeout=60_000)
        expect(progress).to_contain_text("revision")  # the critic sent the first draft back
        expect(page.get_by_test_id("ai-subject-line").first).to_contain_text(
            "Three autumn teas are here"
        )
        expect(page.get_by_test_id("ai-checks")).to_be_visible()
        preview = page.frame_locator('[data-testid="ai-preview"]').locator("body")
        expect(preview).to_contain_text("autumn blends are in")  # the draft, rendered
        expect(preview).to_contain_text("12 Leaf Street, Teatown")
        page.get_by_test_id("ai-preview").scroll_into_view_if_needed()
        screenshot(page, "email-assistant-draft")
        assert router.calls.count("copywriter") == 2

    templates = maily.api(f"{ws}/templates")
    assert httpx.get(templates, headers=user.headers).json()["items"] == []
    page.get_by_test_id("ai-accept").click()
    expect(page.get_by_test_id("ai-accepted")).to_be_visible()
    made = httpx.get(templates, headers=user.headers).json()["items"]
    assert len(made) == 1
    template = httpx.get(f"{templates}/{made[0]['id']}", headers=user.headers).json()
    assert template["subject"] == "Three autumn teas are here"


def test_another_workspace_cannot_open_a_campaign(
    context: BrowserContext, page: Page, maily: Maily
) -> None:
    owner = sign_up_by_api(maily, "First")
    made = httpx.post(
        maily.api(f"/workspaces/{owner.workspace_id}/campaigns"),
        headers=owner.headers,
        json={"name": "Secret plans"},
    )
    assert made.status_code == 201, made.text
    stranger = sign_up_by_api(maily, "Second")
    signed_in(page, stranger)
    page.goto(f"/campaigns/view/?id={made.json()['id']}")
    expect(page.get_by_test_id("error-alert")).to_contain_text("not found")
    page.goto(f"/reports/campaign/?id={made.json()['id']}")
    expect(page.get_by_test_id("error-alert")).to_be_visible()
    page.goto("/campaigns/")
    expect(page.get_by_text("No campaigns yet")).to_be_visible()
    expect(page.get_by_text("Secret plans")).to_have_count(0)


def test_a_block_added_in_the_visual_editor_is_saved_as_the_next_version(
    context: BrowserContext, page: Page, maily: Maily
) -> None:
    user = sign_up_by_api(maily)
    signed_in(page, user)
    new_template(page, "Visual")
    templates = f"/workspaces/{user.workspace_id}/templates"
    (made,) = httpx.get(maily.api(templates), headers=user.headers).json()["items"]

    def source_of(version: int) -> str:
        found = httpx.get(
            maily.api(f"{templates}/{made['id']}/versions/{version}"), headers=user.headers
        )
        assert found.status_code == 200, found.text
        return str(found.json()["source"])

    dividers = source_of(1).count("<mj-divider")

    page.get_by_role("tab", name="Visual").click()
    canvas = page.frame_locator(".gjs-frame")
    expect(canvas.locator("body")).to_contain_text("Hello")  # the starter, laid out
    block = page.locator(".gjs-block", has_text="Divider")
    expect(block).to_be_visible()
    # Select the email's first text, then click the block: it goes in after the text.
    # (A drag emulated by the browser driver is taken by the editor only now and then.)
    in_canvas = canvas.locator('[data-gjs-type="mj-divider"]')
    before = in_canvas.count()
    canvas.locator('[data-gjs-type="mj-text"]').first.click()
    block.click()
    expect(in_canvas).to_have_count(before + 1)
    screenshot(page, "email-template-visual-editor")
    page.get_by_test_id("template-visual-save").click()
    page.get_by_role("tab", name="Versions").click()
    expect(page.get_by_test_id("template-versions")).to_contain_text("Version 2 (current)")
    assert source_of(2).count("<mj-divider") == dividers + 1
