"""Signing up, signing in, accepting an invitation and switching workspaces in the browser."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, Maily, screenshot, sign_up_by_api


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_up_lands_on_the_dashboard(page: Page) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin/$"))
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Your name").fill("Ada")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("short")
    page.get_by_label("Workspace name").fill("Ada's shop")
    page.get_by_role("button", name="Create account").click()
    # Checked in the browser before anything is sent, next to the field.
    expect(page.get_by_text("At least 10 characters").last).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_test_id("current-user")).to_have_text(email)
    expect(page.get_by_test_id("stat-sent-value")).to_have_text("0")
    expect(page.get_by_test_id("workspace-switcher")).to_have_value("Ada's shop (owner)")
    screenshot(page, "auth-dashboard-after-sign-up")


def test_sign_up_with_a_taken_address_says_so(page: Page, maily: Maily) -> None:
    user = sign_up_by_api(maily)
    page.goto("/signup/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Workspace name").fill("Again")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("signup-error")).to_contain_text("already")


def test_wrong_password_is_shown_under_the_button_then_sign_in_works(
    page: Page, maily: Maily
) -> None:
    user = sign_up_by_api(maily)
    page.goto("/settings/team/")
    # Not signed in: sent to sign in, and back to the page afterwards.
    expect(page).to_have_url(re.compile(r"/signin/\?next="))
    sign_in(page, user.email, "not the password")
    expect(page.get_by_test_id("signin-error")).to_be_visible()
    screenshot(page, "auth-wrong-password")
    sign_in(page, user.email)
    expect(page.get_by_role("heading", name="Team and roles")).to_be_visible()
    expect(page.get_by_test_id("members-table")).to_contain_text(user.email)


def test_an_invited_member_accepts_and_switches_workspace(page: Page, maily: Maily) -> None:
    owner = sign_up_by_api(maily, "Owner's workspace")
    guest = sign_up_by_api(maily, "Guest's own")
    invited = httpx.post(
        maily.api(f"/workspaces/{owner.workspace_id}/invitations"),
        headers=owner.headers,
        json={"email": guest.email, "role": "analyst"},
    )
    assert invited.status_code == 201, invited.text
    link = invited.json()["accept_url"]
    assert link.startswith(maily.url)

    page.goto(link.removeprefix(maily.url))
    page.get_by_role("link", name="Sign in first").click()
    sign_in(page, guest.email)
    # Back on the invitation, signed in now.
    page.get_by_role("button", name="Join the workspace").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    switcher = page.get_by_test_id("workspace-switcher")
    expect(switcher).to_have_value("Owner's workspace (analyst)")
    screenshot(page, "auth-invitation-accepted")

    switcher.click()
    page.get_by_role("option", name="Guest's own (owner)").click()
    expect(switcher).to_have_value("Guest's own (owner)")
    page.get_by_test_id("nav-settings").click()
    expect(page.get_by_test_id("workspace-name")).to_have_value("Guest's own")

    # The invitation is used up.
    page.goto(link.removeprefix(maily.url))
    page.get_by_role("button", name="Join the workspace").click()
    expect(page.get_by_test_id("invitation-error")).to_be_visible()


def test_a_stale_access_token_is_refreshed_once_then_sign_in_is_asked(
    page: Page, maily: Maily
) -> None:
    user = sign_up_by_api(maily)
    page.goto("/signin/")
    sign_in(page, user.email)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.evaluate("localStorage.setItem('maily.access_token', 'no-longer-valid')")
    page.goto("/settings/team/")
    expect(page.get_by_test_id("members-table")).to_contain_text(user.email)
    renewed = page.evaluate("localStorage.getItem('maily.access_token')")
    assert renewed
    assert renewed != "no-longer-valid"

    page.evaluate(
        "localStorage.setItem('maily.access_token', 'bad');"
        "localStorage.setItem('maily.refresh_token', 'bad')"
    )
    page.goto("/settings/team/")
    expect(page).to_have_url(re.compile(r"/signin/\?next=%2Fsettings%2Fteam%2F"))
    assert page.evaluate("localStorage.getItem('maily.refresh_token')") is None
