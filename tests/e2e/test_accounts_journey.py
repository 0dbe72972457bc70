"""A resident's first visit in a real browser: English, invitation, login, logout."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_register_from_invitation_login_logout_in_english(live_server, browser_page, make, user):
    page = browser_page
    issued = make.invitation(user, "sakura@example.jp", message="ようこそ！")

    page.goto(live_server + "/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome to Sankaku")

    page.goto(issued.url.replace("http://localhost", live_server))
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    expect(page.get_by_text("長岡 花子 invited you")).to_be_visible()
    expect(page.get_by_label("Email address")).to_have_value("sakura@example.jp")
    page.get_by_label("Display name").fill("新井 さくら")
    page.get_by_label("User name").fill("sakura")
    page.get_by_label("Password", exact=True).fill("a long and happy phrase")
    page.get_by_label("Password (again)").fill("a different phrase")
    page.get_by_role("button", name="Create my account").click()
    # the mistake is explained beside the field and the typed values stay
    expect(page.get_by_text("The two passwords do not match.")).to_be_visible()
    expect(page.get_by_label("User name")).to_have_value("sakura")
    page.get_by_label("Password", exact=True).fill("a long and happy phrase")
    page.get_by_label("Password (again)").fill("a long and happy phrase")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_text("Welcome to Sankaku! Your account is ready.")).to_be_visible()
    expect(page.get_by_text("Hello, 新井 さくら.")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in")
    ).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
    page.get_by_label("Email address").fill("sakura@example.jp")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not correct")
    page.get_by_label("Password").fill("a long and happy phrase")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_text("Hello, 新井 さくら.")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in")
    ).to_be_visible()


def test_phone_width_has_no_horizontal_scroll(live_server, browser_page):
    page = browser_page
    page.set_viewport_size({"width": 360, "height": 740})
    for path in ("/", "/auth/login", "/auth/forgot"):
        page.goto(live_server + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} scrolls sideways ({width}px)"


def test_keyboard_reaches_login_form_and_skip_link(live_server, browser_page):
    page = browser_page
    page.goto(live_server + "/auth/login")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == "#main"
