"""A creates a community, posts a topic and an event; B joins on a phone-sized screen, replies,
takes part in the event and downloads its .ics file; C gets 404 for a secret community."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.community import services
from app.extensions import db

pytestmark = pytest.mark.e2e

NAME = "North Town disaster preparedness"


def _log_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/lang/en?next=/auth/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_community_journey(
    live_server: str, browser_page: Page, browser: Any, make: Any, user: Any, other_user: Any
) -> None:
    carol = make.user(handle="carol", display_name="三条 花")
    secret = services.create_community(user, name="Quiet club", category="趣味", kind="secret")
    db.session.commit()
    password = make.PASSWORD
    a = browser_page
    contexts = [
        browser.new_context(
            locale="ja-JP", viewport={"width": 360, "height": 740}, accept_downloads=True
        )
        for _ in range(2)
    ]
    try:
        b, c = (ctx.new_page() for ctx in contexts)
        for page in (b, c):
            page.set_default_timeout(10_000)
        _log_in(a, live_server, user.email, password)
        _log_in(b, live_server, other_user.email, password)
        _log_in(c, live_server, carol.email, password)

        # A creates an open community.
        a.get_by_role("navigation", name="Main").get_by_role("link", name="Communities").click()
        a.get_by_role("link", name="Create a community").click()
        a.get_by_label("Name").fill(NAME)
        a.get_by_label("Description").fill("Emergency kits, shelters and drills.")
        a.get_by_label("Category").select_option("防災")
        a.get_by_label("Kind").select_option("open")
        a.get_by_role("button", name="Create").click()
        expect(a.get_by_role("heading", level=1)).to_contain_text(NAME)
        community_url = a.url

        # A posts a topic and an event.
        a.get_by_role("link", name="Start a topic").click()
        a.get_by_label("Title").fill("What is in your emergency kit?")
        a.get_by_label("Text", exact=True).fill("Water, crackers and a radio here.")
        a.get_by_role("button", name="Post").click()
        expect(a.get_by_role("heading", level=1)).to_contain_text("emergency kit")
        topic_url = a.url
        a.goto(community_url)
        a.get_by_role("link", name="Announce an event").click()
        a.get_by_label("Title").fill("Autumn drill, part 1")
        a.get_by_label("Starts at").fill("2030-10-05T10:00")
        a.get_by_label("Place").fill("Central park; east gate")
        a.get_by_label("Capacity (optional)").fill("2")
        a.get_by_role("button", name="Post").click()
        expect(a.get_by_role("heading", level=1)).to_have_text("Autumn drill, part 1")
        event_url = a.url

        # B finds the community, joins, replies, and takes part in the event.
        b.goto(live_server + "/communities")
        b.get_by_role("link", name=NAME).first.click()
        b.get_by_role("button", name="Join this community").click()
        expect(b.get_by_text("You joined the community.")).to_be_visible()
        b.goto(topic_url)
        b.get_by_role("textbox", name="Reply").fill("A torch and spare batteries.")
        b.get_by_role("button", name="Post the reply").click()
        expect(b.get_by_text("A torch and spare batteries.")).to_be_visible()
        b.goto(event_url)
        b.get_by_role("button", name="Take part").click()
        expect(b.get_by_text("You take part in this event.")).to_be_visible()
        expect(
            b.get_by_role("region", name="Participants").get_by_role(
                "link", name=other_user.display_name
            )
        ).to_be_visible()
        with b.expect_download() as info:
            b.get_by_role("link", name="Add to my calendar (.ics)").click()
        download = info.value
        assert download.suggested_filename.endswith(".ics")
        text = Path(download.path()).read_bytes().decode("utf-8")
        assert text.startswith("BEGIN:VCALENDAR\r\n")
        assert "SUMMARY:Autumn drill\\, part 1\r\n" in text
        assert "LOCATION:Central park\\; east gate\r\n" in text

        # A sees the reply on the home page's community news; C gets 404 for the secret one.
        a.goto(live_server + "/")
        expect(a.get_by_role("region", name="My communities")).to_contain_text(NAME)
        response = c.goto(f"{live_server}/communities/{secret.id}")
        assert response is not None and response.status == 404
        c.goto(live_server + "/communities")
        expect(c.get_by_text("Quiet club")).to_have_count(0)
    finally:
        for ctx in contexts:
            ctx.close()
