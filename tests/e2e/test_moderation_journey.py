"""A member reports a post; a moderator hides it with a reason; the author sees it hidden with
the reason; another member no longer sees it.

The reported post is a reply in a community topic; `_reported_post` is the one place that
makes it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.auth.models import RoleCode
from tests.second_factor_support import browser_second_factor

pytestmark = pytest.mark.e2e

POST_TEXT = "Nobody should go to that awful shop, the owner is a crook."
REASON = "Please criticise the shop, not a person."


def _log_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/lang/en?next=/auth/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    browser_second_factor(page, email)  # the moderator's authenticator code (A08)
    expect(page).to_have_url(re.compile(r"/$"))


def _reported_post(make: Any, owner: Any, author: Any) -> str:
    """Make the post to report (by `author`: a reply in a topic `owner` started in the open
    community `owner` runs) and return the path of the page showing it."""
    from app.community import services as community
    from app.extensions import db

    com = community.create_community(owner, name="Kitamachi", category="地域", kind="open")
    community.join_community(author, com)
    topic = community.create_topic(
        com, owner, title="The new shopping street", body="What do you think of it?"
    )
    community.add_post(topic, author, POST_TEXT)
    db.session.commit()
    return f"/topics/{topic.id}"


def test_report_hide_journey(
    live_server: str, browser_page: Page, browser: Any, make: Any, user: Any, other_user: Any
) -> None:
    moderator = make.user(handle="npo_staff", display_name="NPO staff", role=RoleCode.MODERATOR)
    carol = make.user(handle="carol", display_name="三条 花")
    path = _reported_post(make, user, other_user)
    password = make.PASSWORD
    reporter = browser_page
    contexts = [
        browser.new_context(locale="ja-JP", viewport={"width": 360, "height": 740})
        for _ in range(3)
    ]
    try:
        mod, author, third = (ctx.new_page() for ctx in contexts)
        for page in (mod, author, third):
            page.set_default_timeout(10_000)
        _log_in(reporter, live_server, carol.email, password)
        _log_in(mod, live_server, moderator.email, password)
        _log_in(author, live_server, other_user.email, password)
        _log_in(third, live_server, user.email, password)  # the diary's owner

        # A member reports the post.
        reporter.goto(live_server + path)
        post = reporter.locator("li", has_text=POST_TEXT).last
        post.get_by_role("link", name="Report", exact=True).click()
        reporter.get_by_label("Harassment or bullying").check()
        reporter.get_by_role("button", name="Send the report").click()
        expect(reporter.get_by_role("heading", name="Report received")).to_be_visible()

        # The moderator finds it in the queue, in context, and hides it with a reason.
        mod.goto(live_server + "/moderation/reports")
        expect(mod.get_by_text(POST_TEXT)).to_be_visible()
        mod.get_by_role("link", name=re.compile(r"#\d+")).first.click()
        expect(mod.get_by_role("link", name="Open it in context")).to_be_visible()
        mod.locator("#hide-reason").fill(REASON)
        mod.get_by_role("button", name="Hide it").click()
        expect(
            mod.get_by_text("The content is hidden. Its author sees your reason.")
        ).to_be_visible()

        # The author still sees the post, marked hidden, with the reason.
        author.goto(live_server + path)
        expect(author.get_by_text(POST_TEXT)).to_be_visible()
        expect(author.get_by_text(REASON)).to_be_visible()
        author.goto(live_server + "/moderation/my-actions")
        expect(author.get_by_text(REASON)).to_be_visible()

        # Another member (and the reporter) no longer see it, nor the reason.
        for page in (third, reporter):
            page.goto(live_server + path)
            expect(page.get_by_role("heading", name="The new shopping street")).to_be_visible()
            expect(page.get_by_text(POST_TEXT)).to_have_count(0)
            expect(page.get_by_text(REASON)).to_have_count(0)
    finally:
        for ctx in contexts:
            ctx.close()
