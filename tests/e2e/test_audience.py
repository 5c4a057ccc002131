"""Audience pages in the browser: importing a CSV, the segment builder's live count and
rule errors, bulk actions and a contact's page, the outbox viewer; and another
workspace's member sees none of it."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from maily.delivery.transports.base import Outcome, OutgoingMessage
from maily.delivery.transports.outbox import OutboxTransport
from tests.e2e.conftest import Maily, User, screenshot, sign_up_by_api


def sign_in(page: Page, user: User) -> None:
    page.goto("/signin/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def api(maily: Maily, user: User, method: str, path: str, **kwargs: object) -> httpx.Response:
    url = maily.api(f"/workspaces/{user.workspace_id}{path}")
    return httpx.request(method, url, headers=user.headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def add_contacts(maily: Maily, user: User, rows: list[dict[str, object]]) -> list[str]:
    ids = []
    for row in rows:
        created = api(maily, user, "POST", "/contacts", json=row)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    return ids


def test_import_a_csv_maps_columns_shows_progress_and_the_error_report(
    page: Page, maily: Maily, tmp_path: Path
) -> None:
    user = sign_up_by_api(maily)
    newsletter = api(maily, user, "POST", "/lists", json={"name": "Newsletter"}).json()
    csv = tmp_path / "people.csv"
    lines = ["E-Mail,Vorname,plan"]
    lines += [f"person{i}@acme.example,P{i},{'pro' if i % 2 else 'free'}" for i in range(12)]
    lines += ["not-an-address,Bad,pro", "person3@acme.example,Again,pro"]
    csv.write_text("\n".join(lines) + "\n")
    sign_in(page, user)

    page.get_by_test_id("nav-imports").click()
    page.locator("input[type=file]").set_input_files(str(csv))
    page.get_by_test_id("import-upload").click()
    expect(page.get_by_test_id("import-mapping")).to_be_visible()
    expect(page.get_by_test_id("import-map-E-Mail")).to_have_value("Email")
    expect(page.get_by_test_id("import-map-Vorname")).to_have_value("First name")
    page.get_by_test_id("import-map-plan").click()
    page.get_by_role("option", name="New custom field (text) named after the column").click()
    expect(page.get_by_test_id("import-map-plan")).to_have_value("Custom field: plan")
    page.get_by_test_id("import-lists").click()
    page.get_by_role("option", name="Newsletter").click()
    page.keyboard.press("Escape")
    screenshot(page, "audience-import-mapping")

    page.get_by_test_id("import-start").click()
    expect(page.get_by_test_id("import-status")).to_have_text("completed", timeout=60_000)
    expect(page.get_by_test_id("import-count-created")).to_have_text("12")
    expect(page.get_by_test_id("import-count-invalid")).to_have_text("2")
    report = page.get_by_test_id("import-errors")
    expect(report).to_contain_text("invalid address")
    expect(report).to_contain_text("duplicate address")
    screenshot(page, "audience-import-done")

    contacts = api(maily, user, "GET", "/contacts", params={"q": "person", "limit": 50}).json()
    assert len(contacts["items"]) == 12
    by_email = {c["email"]: c for c in contacts["items"]}
    assert by_email["person1@acme.example"]["first_name"] == "P1"
    assert by_email["person1@acme.example"]["fields"] == {"plan": "pro"}
    counts = api(maily, user, "GET", f"/lists/{newsletter['id']}").json()
    assert counts["subscribed"] == 12


def test_segment_builder_counts_live_names_the_bad_rule_and_saves(page: Page, maily: Maily) -> None:
    user = sign_up_by_api(maily)
    field = api(
        maily,
        user,
        "POST",
        "/fields",
        json={"key": "plan", "label": "Plan", "type": "choice", "choices": ["free", "pro"]},
    )
    assert field.status_code == 201, field.text
    add_contacts(
        maily,
        user,
        [
            {"email": f"p{i}@acme.example", "fields": {"plan": "pro" if i < 3 else "free"}}
            for i in range(5)
        ]
        + [{"email": "x@other.example", "fields": {"plan": "pro"}}],
    )
    sign_in(page, user)
    page.get_by_test_id("nav-segments").click()
    page.get_by_test_id("segment-new").click()
    page.get_by_test_id("segment-name").fill("Acme pro")

    first = page.get_by_test_id("segment-rule").first
    first.get_by_test_id("segment-rule-value").fill("@acme.example")
    expect(page.get_by_test_id("segment-count-total")).to_have_text("5")

    page.get_by_test_id("segment-add-group").click()
    group = page.get_by_test_id("segment-group")
    group.get_by_test_id("segment-rule-subject").click()
    page.get_by_role("option", name="Plan").click()
    group.get_by_test_id("segment-rule-op").click()
    page.get_by_role("option", name="is", exact=True).click()
    group.get_by_test_id("segment-rule-value").click()
    page.get_by_role("option", name="pro").click()
    expect(page.get_by_test_id("segment-count-total")).to_have_text("3")
    expect(page.get_by_test_id("segment-count-sendable")).to_have_text("3")

    # An empty "ends with" is refused by the API; its words land under that rule.
    first.get_by_test_id("segment-rule-value").fill("")
    expect(first.get_by_test_id("segment-rule-error")).to_contain_text("non-empty text")
    screenshot(page, "audience-segment-rule-error")
    first.get_by_test_id("segment-rule-value").fill("@acme.example")
    expect(first.get_by_test_id("segment-rule-error")).to_have_count(0)
    expect(page.get_by_test_id("segment-count-total")).to_have_text("3")

    page.get_by_test_id("segment-save").click()
    expect(page.get_by_test_id("segment-saved")).to_be_visible()
    screenshot(page, "audience-segment-saved")
    segments = api(maily, user, "GET", "/segments").json()["items"]
    assert [s["name"] for s in segments] == ["Acme pro"]
    assert segments[0]["rules"] == {
        "all": [
            {"field": "email", "op": "ends_with", "value": "@acme.example"},
            {"any": [{"custom_field": "plan", "op": "eq", "value": "pro"}]},
        ]
    }
    page.get_by_role("link", name="All segments").click()
    expect(page.get_by_test_id("segment-item")).to_contain_text("3 contacts")


def test_bulk_tag_a_selection_then_edit_a_contact(page: Page, maily: Maily) -> None:
    user = sign_up_by_api(maily)
    ann, bob, _ = add_contacts(
        maily,
        user,
        [
            {"email": "ann@acme.example", "first_name": "Ann"},
            {"email": "bob@acme.example", "first_name": "Bob"},
            {"email": "cy@acme.example"},
        ],
    )
    sign_in(page, user)
    page.get_by_test_id("nav-contacts").click()
    page.get_by_label("Select ann@acme.example").check()
    page.get_by_label("Select bob@acme.example").check()
    page.get_by_test_id("bulk-tag").fill("vip")
    page.get_by_test_id("bulk-apply").click()
    expect(page.get_by_test_id("bulk-result")).to_have_text("2 contacts tagged.")
    page.get_by_test_id("contacts-filter-tag").fill("vip")
    expect(page.get_by_test_id("contact-row")).to_have_count(2)
    screenshot(page, "audience-contacts-bulk")
    assert api(maily, user, "GET", f"/contacts/{ann}").json()["tags"] == ["vip"]

    page.get_by_role("link", name="bob@acme.example").click()
    expect(page.get_by_test_id("contact-email")).to_have_text("bob@acme.example")
    page.get_by_label("Last name").fill("Builder")
    page.get_by_test_id("contact-save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    assert api(maily, user, "GET", f"/contacts/{bob}").json()["last_name"] == "Builder"

    # The API's refusal is shown under the field that caused it.
    email = page.get_by_test_id("contact-edit-email")
    email.fill("ann@acme.example")
    page.get_by_test_id("contact-save").click()
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(
        page.get_by_text("a contact with the address ann@acme.example exists already")
    ).to_be_visible()
    screenshot(page, "audience-contact-error")
    assert api(maily, user, "GET", f"/contacts/{bob}").json()["email"] == "bob@acme.example"


def keep_in_outbox(maily: Maily, user: User) -> None:
    """Hand one message to the outbox transport, as the sender would."""
    mime = EmailMessage()
    mime["From"] = "News <news@acme.example>"
    mime["To"] = "ann@acme.example"
    mime["Subject"] = "Winter news"
    mime.set_content("Hello in text")
    html = '<h1>Hello in HTML</h1><script>document.title = "ran"</script>'
    mime.add_alternative(html, subtype="html")
    message = OutgoingMessage(
        delivery_id=None,
        workspace_id=uuid.UUID(user.workspace_id),
        envelope_from="bounce@acme.example",
        recipient="ann@acme.example",
        data=mime.as_bytes().replace(b"\n", b"\r\n"),
        from_header=mime["From"],
        to_header=mime["To"],
        subject=mime["Subject"],
        html=html,
        text="Hello in text",
    )

    async def send() -> None:
        transport = OutboxTransport.from_url(maily.database_url)
        try:
            [result] = await transport.send([message])
            assert result.outcome is Outcome.sent, result.detail
        finally:
            await transport.aclose()

    # Playwright's sync API holds this thread's event loop; the transport runs on its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, send()).result(timeout=60)


def test_outbox_shows_a_kept_message_sandboxed_and_its_raw_source(page: Page, maily: Maily) -> None:
    user = sign_up_by_api(maily)
    keep_in_outbox(maily, user)
    sign_in(page, user)
    page.get_by_test_id("nav-outbox").click()
    expect(page.get_by_test_id("outbox-table")).to_contain_text("ann@acme.example")
    page.get_by_role("link", name="Winter news").click()

    frame = page.get_by_test_id("outbox-html")
    expect(frame).to_have_attribute("sandbox", "")
    body = page.frame_locator("[data-testid=outbox-html]").locator("h1")
    expect(body).to_have_text("Hello in HTML")
    # Sandboxed: the message's script never ran.
    assert frame.element_handle().content_frame().evaluate("document.title") == ""  # type: ignore[union-attr]
    screenshot(page, "audience-outbox-message")

    page.get_by_role("tab", name="Raw source").click()
    expect(page.get_by_test_id("outbox-raw")).to_contain_text("Subject: Winter news")
    page.get_by_role("tab", name="Headers").click()
    expect(page.get_by_role("row", name="Subject Winter news")).to_be_visible()


def test_another_workspace_sees_none_of_it(page: Page, maily: Maily) -> None:
    owner = sign_up_by_api(maily)
    [contact] = add_contacts(maily, owner, [{"email": "secret@acme.example"}])
    api(maily, owner, "POST", "/lists", json={"name": "Secret list"})
    stranger = sign_up_by_api(maily, workspace_name="Elsewhere")
    sign_in(page, stranger)

    page.goto(f"/contacts/view/?id={contact}")
    expect(page.get_by_test_id("error-alert")).to_contain_text("not found")
    page.get_by_test_id("nav-contacts").click()
    expect(page.get_by_test_id("contacts-empty")).to_be_visible()
    page.get_by_test_id("nav-lists").click()
    expect(page.get_by_test_id("lists-table")).to_be_visible()
    expect(page.get_by_text("Secret list")).to_have_count(0)
