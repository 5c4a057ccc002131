"""A new user's first campaign, all in the browser: sign up → import a CSV → build a
segment → create a template → create and send a campaign to the outbox → watch live
progress → open the report. A screenshot per step goes to artifacts/e2e/journey-*.png."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, screenshot

CONTACTS = """email,first_name,last_name
ada@journey.example,Ada,Lovelace
grace@journey.example,Grace,Hopper
alan@journey.example,Alan,Turing
someone@other.example,Some,One
"""
# Sending takes a scheduler tick, a sender batch and the analytics rollup.
SLOW = 60_000


def test_first_campaign_journey(page: Page, tmp_path: Path) -> None:
    email = f"journey-{uuid.uuid4().hex[:8]}@example.com"

    # 1. Sign up.
    page.goto("/")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Your name").fill("Jo Journey")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Workspace name").fill("Journey Ltd")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_test_id("current-user")).to_have_text(email)
    screenshot(page, "journey-01-signed-up")

    # The workspace's postal address and a sender (a campaign cannot start without them).
    page.get_by_test_id("nav-settings").click()
    page.get_by_label("Postal address").fill("1 Main Street, Springfield")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Workspace saved")).to_be_visible()
    page.get_by_test_id("nav-settings-domains").click()
    page.get_by_label("Domain").fill("journey.example.com")
    page.get_by_role("button", name="Add domain").click()
    expect(page.get_by_test_id("domain-journey.example.com")).to_be_visible()
    page.get_by_label("From name").fill("Journey Ltd")
    page.get_by_label("From address").fill("news@journey.example.com")
    page.get_by_role("button", name="Add sender").click()
    expect(page.get_by_test_id("senders-table")).to_contain_text("news@journey.example.com")
    screenshot(page, "journey-02-sender")

    # 2. Import a CSV.
    csv = tmp_path / "contacts.csv"
    csv.write_text(CONTACTS)
    page.get_by_test_id("nav-imports").click()
    page.locator('input[type="file"]').set_input_files(str(csv))
    page.get_by_test_id("import-upload").click()
    mapping = page.get_by_test_id("import-mapping")
    expect(mapping).to_contain_text("ada@journey.example")
    screenshot(page, "journey-03-import-mapping")
    page.get_by_test_id("import-start").click()
    expect(page.get_by_test_id("import-status")).to_have_text("completed", timeout=SLOW)
    expect(page.get_by_test_id("import-no-errors")).to_be_visible()
    screenshot(page, "journey-04-imported")

    # 3. Build a segment: three of the four contacts, counted live.
    page.get_by_test_id("nav-segments").click()
    page.get_by_test_id("segment-new").click()
    page.get_by_test_id("segment-name").fill("Journey people")
    page.get_by_test_id("segment-rule-value").fill("@journey.example")
    expect(page.get_by_test_id("segment-count-total")).to_have_text("3")
    page.get_by_test_id("segment-save").click()
    expect(page.get_by_test_id("segment-saved")).to_be_visible()
    screenshot(page, "journey-05-segment")

    # 4. Create a template (the starter has the unsubscribe link and postal address).
    page.get_by_test_id("nav-templates").click()
    page.get_by_test_id("template-new").click()
    page.get_by_test_id("template-name").fill("Welcome")
    page.get_by_test_id("template-subject").fill("Hello from Journey Ltd")
    expect(page.get_by_test_id("template-status")).to_be_visible(timeout=SLOW)
    page.get_by_test_id("template-save").click()
    expect(page).to_have_url(re.compile(r"/templates/edit/\?id="))
    expect(page.get_by_test_id("template-errors")).to_have_count(0)
    screenshot(page, "journey-06-template")

    # 5. Create the campaign and send it (the outbox transport keeps the mail).
    page.get_by_test_id("nav-campaigns").click()
    page.get_by_test_id("campaign-new").click()
    page.get_by_test_id("campaign-name").fill("Journey launch")
    page.get_by_test_id("campaign-segments").click()
    page.get_by_role("option", name="Journey people").click()
    page.keyboard.press("Escape")
    page.get_by_test_id("wizard-next").click()
    page.get_by_test_id("campaign-template").click()
    page.get_by_role("option", name="Welcome").click()
    expect(page.get_by_test_id("campaign-subject")).to_have_value("Hello from Journey Ltd")
    page.get_by_test_id("campaign-sender").click()
    page.get_by_role("option", name=re.compile(r"news@journey\.example\.com")).click()
    screenshot(page, "journey-07-campaign-content")
    page.get_by_test_id("wizard-next").click()  # → settings
    page.get_by_test_id("wizard-next").click()  # → checks
    expect(page.get_by_test_id("campaign-readiness")).to_be_visible()
    screenshot(page, "journey-08-campaign-checks")
    page.get_by_test_id("wizard-next").click()  # → send
    page.get_by_test_id("campaign-send").click()

    # 6. Watch live progress: the page is not reloaded; the WebSocket moves it along.
    expect(page.get_by_test_id("campaign-progress-panel")).to_be_visible()
    expect(page.get_by_test_id("campaign-live")).to_have_text("Live", timeout=SLOW)
    expect(page.get_by_test_id("campaign-count-sent")).to_have_text("3", timeout=SLOW)
    expect(page.get_by_test_id("campaign-progress-text")).to_contain_text("3 of 3")
    expect(page.get_by_test_id("campaign-feed")).to_contain_text("sent")
    screenshot(page, "journey-09-live-progress")
    expect(page.get_by_test_id("campaign-status")).to_have_text("sent", timeout=SLOW)

    # 7. Open the report.
    page.get_by_test_id("campaign-report-link").click()
    expect(page.get_by_test_id("report-sent")).to_contain_text("3", timeout=SLOW)
    screenshot(page, "journey-10-report")

    # The mail is in the outbox, for the segment's three contacts only.
    page.get_by_test_id("nav-outbox").click()
    outbox = page.get_by_test_id("outbox-table")
    for address in ("ada@journey.example", "grace@journey.example", "alan@journey.example"):
        expect(outbox).to_contain_text(address)
    expect(outbox).not_to_contain_text("someone@other.example")
    expect(outbox).to_contain_text("Hello from Journey Ltd")
    screenshot(page, "journey-11-outbox")
