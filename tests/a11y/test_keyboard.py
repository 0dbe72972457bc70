"""Keyboard-only journeys (WCAG 2.1.1, 2.4.1, 2.4.3, 2.4.7): log in, post a diary, answer a
survey of every question type. Every focus stop on the way must draw a visible focus indicator.

Runs on SQLite only: the HTML does not depend on the database (see conftest.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page, expect

from tests.a11y.conftest import PG_URL, Site, card_login, log_in
from tests.a11y.keyboard import (
    assert_focus_visible,
    date_keys,
    focused,
    press_until,
    tab_stops,
    tab_to,
)
from tests.factories import Factories

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(PG_URL), reason="accessibility checks run once, on SQLite"),
]


def test_log_in_by_keyboard_with_skip_link(site: Site, fresh_page: Callable[..., Page]) -> None:
    page = fresh_page()
    page.goto(site.url + "/auth/login")
    page.keyboard.press("Tab")  # the first stop: "skip to main content", shown when focused
    info = assert_focus_visible(page)
    assert page.locator(".skip-link").evaluate("el => el === document.activeElement"), info
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0
    page.keyboard.press("Enter")
    assert focused(page, "main")["matches"]  # type: ignore[index]
    # After the skip link the form's fields come next: e-mail, password, "remember me", button.
    # Sent empty, the page comes back with the focus on the first field in error, which names
    # its error (WCAG 3.3.1, 3.3.2).
    tab_to(page, "form[action$='/auth/login'] button[type=submit]", max_steps=4)
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    email = page.locator("input[name=email]")
    expect(email).to_be_focused()
    assert email.get_attribute("aria-invalid") == "true"
    error_id = (email.get_attribute("aria-describedby") or "").split()[-1]
    expect(page.locator(f"#{error_id}")).not_to_be_empty()
    assert_focus_visible(page)
    page.keyboard.type(site.users["member"])
    tab_to(page, "input[name=password]", max_steps=1)
    page.keyboard.type(Factories.PASSWORD)
    tab_to(page, "form[action$='/auth/login'] button[type=submit]", max_steps=3)
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + "/")
    expect(page.locator("form[action$='/auth/logout'] button")).to_be_visible()


def test_post_a_diary_by_keyboard(site: Site, fresh_page: Callable[..., Page]) -> None:
    page = fresh_page()
    log_in(page, site, site.users["friend"])
    page.goto(site.url + "/diary/new")
    tab_to(page, "input[name=title]")
    page.keyboard.type("雪かきの日")
    tab_to(page, "textarea[name=body]", max_steps=1)
    page.keyboard.type("朝から近所のみんなで雪かきをしました。")
    tab_to(page, "select[name=visibility]")
    press_until(page, "ArrowDown", "select[name=visibility]", "friends")
    tab_to(page, "main form button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("雪かきの日")
    assert re.search(r"/diary/\d+$", page.url)
    expect(page.locator("main")).to_contain_text("朝から近所のみんなで雪かきをしました。")


def test_reply_to_a_community_topic_by_keyboard(
    site: Site, fresh_page: Callable[..., Page]
) -> None:
    page = fresh_page()
    log_in(page, site, site.users["friend"])
    page.goto(site.path("/topics/{topic}"))
    tab_to(page, "form[action$='/reply'] textarea[name=body]")
    page.keyboard.type("当日は受付を手伝います。")
    tab_to(page, "form[action$='/reply'] button[type=submit]", max_steps=3)
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    expect(page.locator("main .posts")).to_contain_text("当日は受付を手伝います。")


def test_answer_a_survey_by_keyboard(site: Site, fresh_page: Callable[..., Page]) -> None:
    """The JPKI step with the test helpers, then every question type by keyboard alone."""
    page = fresh_page()
    keys = date_keys(page, "2026-04-01")
    page.bring_to_front()
    key = site.ids["survey_keyboard"]
    card_login(page, site, key)
    page.goto(site.url + f"/monitors/surveys/{key}")
    tab_to(page, "input[name=consent]")
    page.keyboard.press("Space")
    tab_to(page, "form[action$='/start'] button", max_steps=3)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/page/1$"))

    tab_to(page, "input[name=q_q1]")  # single, radio buttons: Space picks the first
    page.keyboard.press("Space")
    tab_to(page, "select[name=q_q2]", max_steps=1)  # single, drop-down
    press_until(page, "ArrowDown", "select[name=q_q2]", "バス")
    tab_to(page, "input[name=q_q3][value=図書館]", max_steps=1)  # multiple
    page.keyboard.press("Space")
    tab_to(page, "input[name=q_q3][value=公園]", max_steps=2)
    page.keyboard.press("Space")
    tab_to(page, "input[name=q_q4]", max_steps=1)  # scale: Space, then arrows move the choice
    page.keyboard.press("Space")
    for _n in range(3):
        page.keyboard.press("ArrowRight")
    tab_to(page, "input[name=q_q5__0]", max_steps=1)  # matrix: one radio group per row
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    tab_to(page, "input[name=q_q5__1]", max_steps=1)
    page.keyboard.press("Space")
    for place, choice in ((2, 0), (1, 1), (3, 2)):  # ranking: a place for each choice
        tab_to(page, f"select[name=q_q6__{choice}]", max_steps=1)
        press_until(page, "ArrowDown", f"select[name=q_q6__{choice}]", str(place))
    tab_to(page, "input[name=q_q7]", max_steps=1)  # number
    page.keyboard.type("3")
    tab_to(page, "input[name=q_q8]", max_steps=1)  # date: year, month and day are typed
    for part in keys:
        page.keyboard.type(part)
    assert page.locator("input[name=q_q8]").input_value() == "2026-04-01"
    # Tab leaves the date through its parts; the focus stays drawn on the way (a date input
    # whose inner part has the focus does not match :focus-visible in Chromium).
    tab_to(page, "textarea[name=q_q9]", max_steps=4)  # long text
    page.keyboard.type("バスの本数を増やしてほしい")
    tab_to(page, "button[value=next]", max_steps=3)
    page.keyboard.press("Enter")

    page.wait_for_url(re.compile(r"/confirm$"))
    review = page.locator("main")
    for shown in (
        "はい",
        "バス",
        "図書館 / 公園",
        "1. 福祉 / 2. 防災 / 3. 教育",
        "広報紙: 2 / ウェブサイト: 1",
        "2026-04-01",
        "バスの本数を増やしてほしい",
    ):
        expect(review).to_contain_text(shown)
    tab_to(page, "form[action$='/submit'] button")
    page.keyboard.press("Enter")
    expect(page.locator(".receipt strong")).to_have_text(re.compile(r"^\w{4}-\w{4}-\w{4}$"))


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("guest", "/"),
        ("member", "/"),
        ("member", "/members/{member}"),
        ("member", "/diary/{diary}"),
        ("member", "/messages/with/{friend}"),
        ("member", "/topics/{topic}"),
        ("member", "/events/{event}"),
        ("moderator", "/moderation/reports/{report}"),
        ("member", "/auth/settings"),
        ("monitor", "/monitors/me"),
        ("staff", "/staff/surveys/{survey}/results"),
    ],
)
def test_every_focus_stop_is_visible(
    site: Site, role_page: Callable[[str], Page], role: str, path: str
) -> None:
    page = role_page(role)
    page.goto(site.path(path))
    assert unquote(page.url) == site.path(path)
    stops = tab_stops(page)
    assert len(stops) >= 5, stops  # the header alone has the skip link, brand and navigation
