"""Settings pages in the browser: workspace, sending domains and senders, API keys,
webhooks, team; and another workspace's member sees none of it."""

from __future__ import annotations

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.ai.fakes import FakeOpenAI, Text
from tests.e2e.conftest import Maily, User, screenshot, sign_up_by_api


def signed_in(context: BrowserContext, page: Page, user: User) -> Page:
    """Sign in through the form (the tokens then live in the page's localStorage)."""
    page.goto("/signin/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return page


def test_postal_address_is_saved(context: BrowserContext, page: Page, maily: Maily) -> None:
    user = sign_up_by_api(maily)
    signed_in(context, page, user)
    page.get_by_test_id("nav-settings").click()
    page.get_by_label("Postal address").fill("1 Main Street, Springfield")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Workspace saved")).to_be_visible()
    stored = httpx.get(maily.api(f"/workspaces/{user.workspace_id}"), headers=user.headers).json()
    assert stored["postal_address"] == "1 Main Street, Springfield"
    # The transport the operator chose is shown beside it (the browser tests run on the outbox).
    expect(page.get_by_test_id("transport-name")).to_have_text("outbox")
    expect(page.get_by_test_id("transport-card")).to_contain_text("not delivered")


def test_sending_domain_shows_its_dns_records_and_a_sender_is_added(
    context: BrowserContext, page: Page, maily: Maily
) -> None:
    user = sign_up_by_api(maily)
    signed_in(context, page, user)
    page.get_by_test_id("nav-settings-domains").click()
    page.get_by_label("Domain").fill("not a domain")
    page.get_by_role("button", name="Add domain").click()
    expect(page.get_by_test_id("domain-error")).to_contain_text("not a domain name")

    page.get_by_label("Domain").fill("shop.example.com")
    page.get_by_role("button", name="Add domain").click()
    card = page.get_by_test_id("domain-shop.example.com")
    records = card.get_by_role("table", name="DNS records of shop.example.com")
    expect(records).to_contain_text("_domainkey.shop.example.com")
    expect(records).to_contain_text("v=DKIM1")
    expect(card.get_by_test_id("domain-status")).to_have_text("pending")

    page.get_by_label("From name").fill("Shop")
    page.get_by_label("From address").fill("news@elsewhere.example.org")
    page.get_by_role("button", name="Add sender").click()
    expect(page.get_by_test_id("sender-error")).to_be_visible()
    page.get_by_label("From address").fill("news@shop.example.com")
    page.get_by_role("button", name="Add sender").click()
    expect(page.get_by_test_id("senders-table")).to_contain_text("Shop <news@shop.example.com>")
    screenshot(page, "settings-sending-domain")


def test_api_key_is_shown_once_and_works(context: BrowserContext, page: Page, maily: Maily) -> None:
    user = sign_up_by_api(maily)
    signed_in(context, page, user)
    page.get_by_test_id("nav-settings-api-keys").click()
    page.get_by_label("Name").fill("Shop sync")
    page.get_by_test_id("api-key-permissions").click()
    page.get_by_role("option", name="contacts:read — See contacts, lists and segments").click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("api-key-secret-value")
    expect(secret).to_be_visible()
    key = secret.inner_text().strip()
    assert key.startswith("mly_")
    screenshot(page, "settings-api-key-created")
    listed = httpx.get(
        maily.api(f"/workspaces/{user.workspace_id}/contacts"),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert listed.status_code == 200
    page.get_by_role("button", name="Done").click()
    expect(secret).to_have_count(0)
    expect(page.get_by_test_id("api-keys-table")).to_contain_text("Shop sync")
    # Shown once: a reload lists the key by its prefix only.
    page.reload()
    expect(page.get_by_test_id("api-keys-table")).to_contain_text("Shop sync")
    expect(page.get_by_text(key)).to_have_count(0)


def test_webhook_error_is_shown_next_to_the_form(
    context: BrowserContext, page: Page, maily: Maily
) -> None:
    user = sign_up_by_api(maily)
    signed_in(context, page, user)
    page.get_by_test_id("nav-settings-webhooks").click()
    page.get_by_label("URL").fill("http://127.0.0.1:9/hook")
    page.get_by_test_id("webhook-events").click()
    page.get_by_role("option").first.click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Add webhook").click()
    # Loopback addresses are refused (the server would post to itself).
    expect(page.get_by_test_id("webhook-error")).to_be_visible()
    screenshot(page, "settings-webhook-refused")


def test_another_workspace_sees_none_of_it(
    context: BrowserContext, page: Page, maily: Maily
) -> None:
    owner = sign_up_by_api(maily, "First")
    created = httpx.post(
        maily.api(f"/workspaces/{owner.workspace_id}/sending-domains"),
        headers=owner.headers,
        json={"domain": "first.example.com"},
    )
    assert created.status_code == 201, created.text
    other = sign_up_by_api(maily, "Second")
    signed_in(context, page, other)
    page.get_by_test_id("nav-settings-domains").click()
    expect(page.get_by_text("No sending domains yet.")).to_be_visible()
    expect(page.get_by_text("first.example.com")).to_have_count(0)
    # Through the API with the other workspace's id, the UI's client gets a 403/404.
    foreign = httpx.get(
        maily.api(f"/workspaces/{owner.workspace_id}/sending-domains"), headers=other.headers
    )
    assert foreign.status_code in (403, 404)


def test_an_ai_provider_is_added_and_answers_its_test_call(
    context: BrowserContext, page: Page, maily: Maily
) -> None:
    user = sign_up_by_api(maily)
    with FakeOpenAI(api_key="sk-e2e-provider-key") as fake:
        fake.answer(Text("pong", input_tokens=5, output_tokens=1))
        signed_in(context, page, user)
        page.get_by_test_id("nav-settings-ai-providers").click()
        page.get_by_test_id("ai-provider-name").fill("Local")
        page.get_by_label("Base URL").fill(fake.base_url)
        page.get_by_test_id("ai-provider-model").fill("fake-model")
        page.get_by_label("API key", exact=True).fill("sk-e2e-provider-key")
        page.get_by_test_id("ai-provider-add").click()
        card = page.get_by_test_id("ai-provider-Local")
        expect(card).to_be_visible()
        card.get_by_test_id("ai-provider-test").click()
        expect(card.get_by_test_id("ai-provider-test-result")).to_contain_text("It answered")
        screenshot(page, "settings-ai-provider")
        assert fake.requests[-1].headers["authorization"] == "Bearer sk-e2e-provider-key"
    assert "sk-e2e-provider-key" not in page.content()
    stored = httpx.get(
        maily.api(f"/workspaces/{user.workspace_id}/ai/providers"), headers=user.headers
    ).json()
    assert [(p["name"], p["api_key_set"], p["api_key_last4"]) for p in stored] == [
        ("Local", True, "-key")
    ]
