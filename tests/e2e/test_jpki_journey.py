"""The My Number Card login in a real browser, with the card client talking to the emulated
card through pyscard, pcscd and vpcd (no mocked reader)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from app.auth.jpki.client import login as card_login
from app.auth.jpki.verify import clear_store_cache
from app.auth.jpki.virtual_card import JpkiCardEmulator
from tests.card_answer import bind_card
from tests.jpki_fixtures import VPCD_READER, wait_for_card

pytestmark = [pytest.mark.e2e, pytest.mark.card]

CARD_CLIENT = Path(sys.executable).parent / "sankaku-card"


@pytest.fixture
def app_config(app_config, pki):
    clear_store_cache()
    app_config.update(JPKI_TRUST_DIR=pki.trust_dir, JPKI_CRL_DIR=pki.crl_dir)
    return app_config


def show_code(page, live_server):
    page.goto(live_server + "/auth/login")
    page.get_by_role("link", name="マイナンバーカードでログイン").click()
    page.get_by_role("button", name="マイナンバーカードを使う").click()
    code = page.locator("strong.code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", code)
    return code


def run_card_client(live_server, code, pin="1234"):
    return subprocess.run(
        [
            str(CARD_CLIENT),
            "login",
            live_server,
            code,
            "--reader",
            VPCD_READER,
            "--pin-env",
            "TEST_CARD_PIN",
            "--yes",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "TEST_CARD_PIN": pin, "LANG": "C.UTF-8"},
    )


def test_card_login_in_the_browser(live_server, browser_page, vcard, pki, user):
    bind_card(pki, user)
    page = browser_page
    code = show_code(page, live_server)
    expect(page.get_by_role("status")).to_contain_text("カードを待っています")
    outcome = run_card_client(live_server, code)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert live_server in outcome.stdout  # the client showed the site's origin
    # the waiting page notices by itself and continues to the home page, logged in
    expect(page.get_by_text("マイナンバーカードを確認しました。")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("長岡 花子 さん、こんにちは。")).to_be_visible()


def test_replayed_signature_is_refused(live_server, browser_page, vcard, pki, user):
    bind_card(pki, user)
    page = browser_page
    code = show_code(page, live_server)
    posted = []
    http = requests.Session()
    http.hooks["response"].append(
        lambda r, *a, **k: posted.append(r.request.body) if r.request.method == "POST" else None
    )
    outcome = card_login(
        live_server,
        code,
        get_pin=lambda: "1234",
        confirm=lambda *_: True,
        warn=lambda _text: None,
        reader=VPCD_READER,
        session=http,
    )
    assert outcome is not None
    assert len(posted) == 1
    replay = requests.post(
        live_server + "/auth/jpki/response",
        data=posted[0],
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert replay.status_code == 403
    assert replay.json()["reason"] == "challenge_used"
    expect(page.get_by_text("長岡 花子 さん、こんにちは。")).to_be_visible(timeout=15_000)


def test_revoked_resident_is_refused_with_a_readable_message(live_server, browser_page, vcard, pki):
    vcard.card = JpkiCardEmulator.from_pki(pki.root, "lost")
    vcard.insert()
    wait_for_card(True)
    page = browser_page
    code = show_code(page, live_server)
    outcome = run_card_client(live_server, code, pin="7890")
    assert outcome.returncode != 0
    assert "失効" in outcome.stdout + outcome.stderr  # the client explains it too
    expect(page.get_by_role("status")).to_contain_text("失効", timeout=15_000)
    expect(
        page.get_by_role("navigation", name="メイン").get_by_role("link", name="ログイン")
    ).to_be_visible()
