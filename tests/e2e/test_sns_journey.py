"""A and B become friends in real browsers; A posts a friends-only diary; B sees it; C gets
404 and does not find it in any list."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

SECRET_TITLE = "Rice planting with the neighbours"


def _log_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/lang/en?next=/auth/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_friends_only_diary_journey(
    live_server: str, browser_page: Page, browser: Any, make: Any, user: Any, other_user: Any
) -> None:
    carol = make.user(handle="carol", display_name="三条 花")
    password = make.PASSWORD
    a = browser_page
    contexts = [
        browser.new_context(locale="ja-JP", viewport={"width": 360, "height": 740})
        for _ in range(2)
    ]
    try:
        b, c = (ctx.new_page() for ctx in contexts)
        for page in (b, c):
            page.set_default_timeout(10_000)
        _log_in(a, live_server, user.email, password)
        _log_in(b, live_server, other_user.email, password)
        _log_in(c, live_server, carol.email, password)

        # A asks B to be friends, with a message.
        a.goto(live_server + "/members/bob")
        a.get_by_role("link", name="Send a friend request").click()
        a.get_by_label("Message (optional)").fill("We met at the community centre.")
        a.get_by_role("button", name="Send the request").click()
        expect(a.get_by_text("Your friend request has been sent.")).to_be_visible()

        # B sees the request (and a notification) and accepts it.
        b.goto(live_server + "/")
        b.get_by_role("navigation", name="Main").get_by_role(
            "link", name=re.compile("Friends")
        ).click()
        expect(b.get_by_text("We met at the community centre.")).to_be_visible()
        b.get_by_role("button", name="Accept").click()
        expect(b.get_by_text("You are now friends.")).to_be_visible()

        # A writes a friends-only diary entry.
        a.goto(live_server + "/diary/new")
        a.get_by_label("Title").fill(SECRET_TITLE)
        a.get_by_label("Text", exact=True).fill(
            "Only my friends should read this. https://example.jp/rice"
        )
        a.get_by_label("Who can see this").select_option("friends")
        a.get_by_role("button", name="Post").click()
        expect(a.get_by_role("heading", level=1)).to_have_text(SECRET_TITLE)
        diary_url = a.url

        # B sees it on the page and on the home timeline.
        b.goto(diary_url)
        expect(b.get_by_role("heading", level=1)).to_have_text(SECRET_TITLE)
        b.goto(live_server + "/")
        expect(b.get_by_role("link", name=SECRET_TITLE)).to_be_visible()

        # C gets the same 404 as for a missing page and finds it in no list.
        response = c.goto(diary_url)
        assert response is not None and response.status == 404
        expect(c.get_by_role("heading", level=1)).to_have_text("Page not found")
        for path in (
            "/",
            "/diary",
            "/members/alice",
            "/members/alice/diary",
            "/timeline",
            "/members",
        ):
            c.goto(live_server + path)
            expect(c.get_by_text(SECRET_TITLE)).to_have_count(0)
        # And a visitor who is not logged in does not find it either.
        guest = browser.new_context()
        contexts.append(guest)
        g = guest.new_page()
        response = g.goto(diary_url)
        assert response is not None and response.status == 404
        feed = g.request.get(live_server + "/members/alice/diary.atom")
        assert feed.ok and SECRET_TITLE not in feed.text()
    finally:
        for ctx in contexts:
            ctx.close()
