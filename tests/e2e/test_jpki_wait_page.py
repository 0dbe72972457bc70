"""The card waiting page in Chromium: its script continues by itself once the card has
answered, and a click on "continue" at that moment sends no second request (the challenge
completes once; a second request would find it used and show an error instead of the login).
The card's part is played by the test PKI's key, so no PC/SC stack is needed."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Route, expect

from app.auth.jpki.verify import clear_store_cache
from tests.card_answer import answer_as_card, bind_card

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_config(app_config: dict[str, Any], pki: Any) -> dict[str, Any]:
    clear_store_cache()
    app_config.update(JPKI_TRUST_DIR=pki.trust_dir, JPKI_CRL_DIR=pki.crl_dir)
    return app_config


def test_continue_click_while_the_page_continues_sends_one_completion(
    live_server, browser_page, pki, user
):
    bind_card(pki, user)
    page = browser_page
    page.goto(live_server + "/auth/jpki")
    page.get_by_role("button", name="マイナンバーカードを使う").click()
    code = page.locator("strong.code").inner_text()

    box = page.get_by_role("button", name="カードを使いました — 次へ").bounding_box()
    assert box is not None
    held: list[Route] = []
    page.route("**/auth/jpki/complete", lambda route: held.append(route))
    answer_as_card(live_server, code, pki)
    # The page's poll sees the answer and submits; its request is held here for a moment…
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    # …while the resident, seeing the button, presses it too (a plain mouse click: Playwright's
    # element actions would wait for the held navigation to finish first).
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(500)
    assert len(held) == 1, "the click sent a second completion request"
    held[0].continue_()
    page.unroute("**/auth/jpki/complete")
    expect(page.get_by_text("マイナンバーカードを確認しました。")).to_be_visible()
    expect(page.get_by_text("長岡 花子 さん、こんにちは。")).to_be_visible()


def test_without_the_script_the_button_completes_the_login(live_server, browser, pki, user):
    bind_card(pki, user)
    context = browser.new_context(locale="ja-JP", java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(live_server + "/auth/jpki")
        page.get_by_role("button", name="マイナンバーカードを使う").click()
        code = page.locator("strong.code").inner_text()
        page.get_by_role("button", name="カードを使いました — 次へ").click()
        expect(page.locator("#jpki-status")).to_contain_text("カードを待っています")
        expect(page.locator(".flashes")).to_contain_text("まだ届いていません")
        answer_as_card(live_server, code, pki)
        page.get_by_role("button", name="カードを使いました — 次へ").click()
        expect(page.get_by_text("マイナンバーカードを確認しました。")).to_be_visible()
        expect(page.get_by_text("長岡 花子 さん、こんにちは。")).to_be_visible()
    finally:
        context.close()
