"""Search in a real browser: A writes a friends-only diary; friend B finds it with the search
box (typed in katakana, written in hiragana), stranger C searches for it and finds nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

TITLE = "なつまつりの準備"


def _log_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/auth/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("form button[type=submit]").last.click()
    expect(page).to_have_url(re.compile(r"/$"))


def _search(page: Page, words: str) -> None:
    box = page.get_by_role("search").first.get_by_label("サイト内を検索")
    box.fill(words)
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q="))


def test_friends_only_diary_is_found_by_a_friend_only(
    live_server: str, browser_page: Page, browser: Any, make: Any, user: Any, other_user: Any
) -> None:
    carol = make.user(handle="carol", display_name="三条 花")
    make.friends(user, other_user)
    diary = make.diary(user, title=TITLE, body="公民館で提灯を飾りました。", visibility="friends")
    contexts = [
        browser.new_context(locale="ja-JP", viewport={"width": 360, "height": 740})
        for _ in range(2)
    ]
    try:
        friend, stranger = (ctx.new_page() for ctx in contexts)
        for page in (friend, stranger):
            page.set_default_timeout(10_000)
        _log_in(friend, live_server, other_user.email, make.PASSWORD)
        _log_in(stranger, live_server, carol.email, make.PASSWORD)

        _search(friend, "ナツマツリ")
        expect(friend.get_by_role("heading", level=2)).to_have_text("1件見つかりました")
        link = friend.get_by_role("link", name=TITLE)
        expect(link).to_be_visible()
        expect(friend.locator(".search-snippet mark").first).to_have_text("なつまつり")
        link.click()
        expect(friend).to_have_url(re.compile(rf"/diary/{diary.id}$"))
        expect(friend.get_by_role("heading", level=1)).to_have_text(TITLE)

        _search(stranger, "ナツマツリ")
        expect(stranger.get_by_role("heading", level=2)).to_have_text("0件見つかりました")
        expect(stranger.get_by_text(TITLE)).to_have_count(0)
        # The box fits a 360 px screen: no sideways scrolling.
        width = stranger.evaluate("document.documentElement.scrollWidth")
        assert width <= 360
    finally:
        for ctx in contexts:
            ctx.close()
