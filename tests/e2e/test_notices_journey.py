"""Announcements and the terms of use in Chromium.

A staff member publishes a public and a members-only announcement: a guest sees only the public
one, on the home page and in the Atom feed; a member sees both. An admin saves a new version of
the terms: a member who logs in is sent to the accept page; declining logs out, accepting goes on.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from app.auth.models import RoleCode
from app.extensions import db
from tests.second_factor_support import browser_second_factor

pytestmark = pytest.mark.e2e

PUBLIC_TITLE = "Road works on Station Street this Sunday"
MEMBERS_TITLE = "Minutes of the residents' meeting"
NEW_TERMS = "Article 9: please do not post photos of other people without asking them."


def _context(browser: Browser, width: int = 1024) -> BrowserContext:
    return browser.new_context(locale="ja-JP", viewport={"width": width, "height": 800})


def _page(ctx: BrowserContext) -> Page:
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    return page


def _log_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/lang/en?next=/auth/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    browser_second_factor(page, email)  # staff pass their authenticator code (A08)


def _terms_v1(*users: Any) -> None:
    from app.notices.models import PageKind
    from app.notices.services import accept_terms, save_page

    page = save_page(None, PageKind.TERMS, title="Terms of use", body="Article 1: be kind.")
    for user in users:
        accept_terms(user, page)
    db.session.commit()


def _publish(page: Page, base: str, title: str, body: str, audience: str) -> None:
    page.goto(base + "/notices/new")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Text").fill(body)
    page.get_by_label(audience).check()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("The announcement is published.")).to_be_visible()
    expect(page.get_by_role("heading", name=title)).to_be_visible()


def test_announcements_journey(live_server: str, browser: Browser, make: Any, user: Any) -> None:
    staff = make.user(handle="city_staff", display_name="City staff", role=RoleCode.STAFF)
    _terms_v1(staff, user)
    contexts = [_context(browser), _context(browser, 360), _context(browser, 360)]
    try:
        publisher, guest, member = (_page(ctx) for ctx in contexts)
        _log_in(publisher, live_server, staff.email, make.PASSWORD)
        expect(publisher).to_have_url(re.compile(r"/$"))
        _publish(
            publisher,
            live_server,
            PUBLIC_TITLE,
            "Station Street is closed from 9:00 to 17:00.",
            "Everyone (also people who are not logged in)",
        )
        _publish(
            publisher,
            live_server,
            MEMBERS_TITLE,
            "The minutes of November's meeting are below.",
            "Members only",
        )

        # A guest: only the public one, on the home page and in the Atom feed.
        guest.goto(live_server + "/lang/en?next=/")
        expect(guest.get_by_role("link", name=PUBLIC_TITLE)).to_be_visible()
        expect(guest.get_by_text(MEMBERS_TITLE)).to_have_count(0)
        feed = guest.request.get(live_server + "/notices/feed.atom")
        assert feed.ok and feed.headers["content-type"].startswith("application/atom+xml")
        assert PUBLIC_TITLE in feed.text() and MEMBERS_TITLE not in feed.text()
        guest.goto(live_server + "/notices")
        expect(guest.get_by_role("link", name=PUBLIC_TITLE)).to_be_visible()
        expect(guest.get_by_text(MEMBERS_TITLE)).to_have_count(0)

        # A member: both, on the home page.
        _log_in(member, live_server, user.email, make.PASSWORD)
        expect(member).to_have_url(re.compile(r"/$"))
        expect(member.get_by_role("link", name=PUBLIC_TITLE)).to_be_visible()
        expect(member.get_by_role("link", name=MEMBERS_TITLE)).to_be_visible()
        member.get_by_role("link", name=MEMBERS_TITLE).click()
        expect(member.get_by_role("heading", name=MEMBERS_TITLE)).to_be_visible()
        expect(member.get_by_text("The minutes of November's meeting are below.")).to_be_visible()
    finally:
        for ctx in contexts:
            ctx.close()


def test_new_terms_journey(
    live_server: str, browser: Browser, make: Any, user: Any, admin: Any
) -> None:
    from app.notices.models import TermsAcceptance

    _terms_v1(admin, user)
    contexts = [_context(browser), _context(browser, 360)]
    try:
        editor, member = (_page(ctx) for ctx in contexts)
        _log_in(editor, live_server, admin.email, make.PASSWORD)
        expect(editor).to_have_url(re.compile(r"/$"))
        editor.goto(live_server + "/admin/pages/terms/edit")
        editor.get_by_label("Text").fill("Article 1: be kind.\n\n" + NEW_TERMS)
        editor.get_by_label("What changed (shown in the history)").fill("Article 9 added")
        editor.get_by_role("button", name="Save as a new version").click()
        expect(editor.get_by_text("Version 2 is saved and now shown.")).to_be_visible()
        editor.goto(live_server + "/")  # its author is not asked to accept
        expect(editor).to_have_url(re.compile(r"/$"))

        # A member who logs in is sent to the accept page; declining logs out.
        _log_in(member, live_server, user.email, make.PASSWORD)
        expect(member).to_have_url(re.compile(r"/terms/accept"))
        expect(member.get_by_role("heading", name="New terms of use")).to_be_visible()
        expect(member.get_by_text(NEW_TERMS)).to_be_visible()
        member.get_by_role("button", name="I do not accept (log out)").click()
        expect(member.get_by_text("You declined the new terms of use")).to_be_visible()
        member.goto(live_server + "/settings/sns")
        expect(member).to_have_url(re.compile(r"/auth/login"))

        # Logging in again asks again; accepting goes on to the page they wanted.
        _log_in(member, live_server, user.email, make.PASSWORD)
        expect(member).to_have_url(re.compile(r"/terms/accept"))
        member.get_by_role("button", name="I accept").click()
        expect(member.get_by_text("You accepted version 2 of the terms.")).to_be_visible()
        expect(member).to_have_url(re.compile(r"/$"))
        member.goto(live_server + "/settings/sns")
        expect(member).to_have_url(re.compile(r"/settings/sns$"))
    finally:
        for ctx in contexts:
            ctx.close()
    db.session.rollback()
    versions = db.session.execute(
        select(TermsAcceptance.user_id).where(TermsAcceptance.user_id == user.id)
    ).all()
    assert len(versions) == 2  # version 1 in the setup, version 2 in the browser
