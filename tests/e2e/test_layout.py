"""At phone width the navigation folds behind a button and pages fit the screen; forms
work from the keyboard alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.e2e.conftest import Maily, screenshot, sign_up_by_api

PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser, maily: Maily) -> Iterator[Page]:
    context = browser.new_context(
        base_url=maily.url, viewport=PHONE, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_sign_in_with_the_keyboard_and_navigate_at_phone_width(phone: Page, maily: Maily) -> None:
    user = sign_up_by_api(maily)
    phone.goto("/signin/")
    email = phone.get_by_label("Email")
    email.focus()
    phone.keyboard.type(user.email)
    phone.keyboard.press("Tab")
    expect(phone.get_by_label("Password")).to_be_focused()
    phone.keyboard.type(user.password)
    phone.keyboard.press("Enter")
    expect(phone.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(phone.get_by_test_id("stat-sent-value")).to_have_text("0")
    assert page_width(phone) <= PHONE["width"]
    screenshot(phone, "layout-phone-dashboard")

    campaigns = phone.get_by_role("link", name="Campaigns")
    expect(campaigns).not_to_be_in_viewport()
    phone.get_by_role("button", name="Toggle navigation").click()
    expect(campaigns).to_be_in_viewport()
    screenshot(phone, "layout-phone-navigation")
    phone.get_by_test_id("nav-settings-domains").click()
    expect(phone.get_by_role("heading", name="Sending domains")).to_be_visible()
    # The navigation folds away again after a choice.
    expect(campaigns).not_to_be_in_viewport()
    assert page_width(phone) <= PHONE["width"]
    screenshot(phone, "layout-phone-sending-domains")
