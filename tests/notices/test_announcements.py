"""Announcements: who publishes, who reads, pinning, the home page and the Atom feed."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select

from app.extensions import db
from app.notices import services
from app.notices.models import Announcement
from app.permissions import AnonymousViewer, can_view
from tests.notices.conftest import count_queries, tomorrow

ATOM = "{http://www.w3.org/2005/Atom}"


def test_staff_and_moderators_publish_members_do_not(staff, moderator, user, announce):
    assert announce(staff, title="職員から").id
    assert announce(moderator, title="NPOから").id
    with pytest.raises(services.NotAllowedError):
        services.publish_announcement(user, title="x", body="y", audience="public")


def test_forged_audience_and_past_pin_are_refused(staff):
    with pytest.raises(services.NoticeError) as err:
        services.publish_announcement(staff, title="t", body="b", audience="friends")
    assert err.value.field == "audience"
    with pytest.raises(services.NoticeError) as err:
        services.publish_announcement(
            staff, title="t", body="b", audience="public", pinned_until=dt.date(2000, 1, 1)
        )
    assert err.value.field == "pinned_until"


def test_members_only_is_404_for_guests_and_listed_for_members(
    client, login_as, staff, user, announce
):
    public = announce(staff, title="公開のお知らせ")
    members = announce(staff, title="会員向けのお知らせ", audience="members")
    assert client.get(f"/notices/{public.id}").status_code == 200
    assert client.get(f"/notices/{members.id}").status_code == 404
    guest_list = client.get("/notices").get_data(as_text=True)
    assert "公開のお知らせ" in guest_list
    assert "会員向けのお知らせ" not in guest_list
    assert "会員向けのお知らせ" not in client.get("/").get_data(as_text=True)
    login_as(user)
    assert client.get(f"/notices/{members.id}").status_code == 200
    assert "会員向けのお知らせ" in client.get("/notices").get_data(as_text=True)
    assert "会員向けのお知らせ" in client.get("/").get_data(as_text=True)


def test_can_view_and_list_agree(staff, user, announce):
    items = [
        announce(staff, title="a", audience="public"),
        announce(staff, title="b", audience="members"),
    ]
    withdrawn = announce(staff, title="c")
    services.withdraw_announcement(staff, withdrawn)
    db.session.commit()
    items.append(withdrawn)
    for viewer in (AnonymousViewer(), user, staff):
        listed = {a.id for a in services.announcements_for(viewer, limit=50)}
        single = {a.id for a in items if can_view(viewer, a)}
        assert listed == single
    assert withdrawn.id not in {a.id for a in services.announcements_for(staff)}


def test_pinned_first_until_their_date(staff, announce):
    pinned = announce(staff, title="固定", pinned_until=tomorrow())
    newer = announce(staff, title="新しい")
    order = [a.id for a in services.announcements_for(AnonymousViewer())]
    assert order == [pinned.id, newer.id]
    # The pin runs out: after its day, the newer one is first again.
    db.session.execute(
        Announcement.__table__.update()
        .where(Announcement.id == pinned.id)
        .values(pinned_until=services.today_jst() - dt.timedelta(days=1))
    )
    db.session.commit()
    order = [a.id for a in services.announcements_for(AnonymousViewer())]
    assert order == [newer.id, pinned.id]


def test_body_is_sanitised(client, staff, announce):
    item = announce(staff, body="<script>alert(1)</script> **太字** [危険](javascript:alert(1))")
    html = client.get(f"/notices/{item.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "<strong>太字</strong>" in html
    assert 'href="javascript:' not in html


def test_feed_is_valid_atom_with_public_entries_only(client, staff, announce):
    announce(staff, title="公開 A", body="**本文**")
    announce(staff, title="会員 B", audience="members")
    gone = announce(staff, title="取り下げ C")
    services.withdraw_announcement(staff, gone)
    db.session.commit()
    response = client.get("/notices/feed.atom")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    root = ET.fromstring(response.data)  # noqa: S314 - our own test response
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{name}") is not None, name
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["公開 A"]
    entry = entries[0]
    for name in ("id", "title", "updated"):
        assert entry.findtext(f"{ATOM}{name}"), name
    dt.datetime.fromisoformat(entry.findtext(f"{ATOM}updated") or "")
    content = entry.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    assert "<strong>本文</strong>" in (content.text or "")


def test_feed_stays_valid_xml_with_markup_in_titles(client, staff, announce):
    announce(staff, title='A & B <c> "d"', body="<i>x</i> & y")
    root = ET.fromstring(client.get("/notices/feed.atom").data)  # noqa: S314 - our own response
    [entry] = root.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == 'A & B <c> "d"'
    assert "<i>" not in (entry.findtext(f"{ATOM}content") or "")


def test_empty_feed_is_still_valid(client):
    root = ET.fromstring(client.get("/notices/feed.atom").data)  # noqa: S314 - our own response
    assert root.findtext(f"{ATOM}updated")
    assert root.findall(f"{ATOM}entry") == []


def test_publish_edit_withdraw_through_the_pages(client, login_as, staff):
    login_as(staff)
    assert client.get("/notices/new").status_code == 200
    response = client.post(
        "/notices/new",
        data={
            "title": "断水のお知らせ",
            "body": "北町で断水します。",
            "audience": "members",
            "pinned_until": tomorrow().isoformat(),
        },
    )
    assert response.status_code == 302
    item = db.session.execute(select(Announcement)).scalar_one()
    assert (item.audience, item.pinned_until) == ("members", tomorrow())
    response = client.post(
        f"/notices/{item.id}/edit",
        data={
            "title": "断水のお知らせ（更新）",
            "body": "時間が変わりました。",
            "audience": "public",
            "pinned_until": "",
        },
    )
    assert response.status_code == 302
    db.session.refresh(item)
    assert (item.title, item.audience, item.pinned_until) == (
        "断水のお知らせ（更新）",
        "public",
        None,
    )
    assert client.post(f"/notices/{item.id}/withdraw").status_code == 302
    db.session.refresh(item)
    assert item.withdrawn_at is not None
    assert client.get(f"/notices/{item.id}").status_code == 404
    assert "断水のお知らせ（更新）" in client.get("/notices/manage").get_data(as_text=True)


def test_bad_input_gets_a_clear_message_in_japanese(client, login_as, staff):
    login_as(staff)
    response = client.post(
        "/notices/new",
        data={"title": "", "body": "x", "audience": "secret", "pinned_until": "明日"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2026-12-31 のような形で日付を入力してください。" in html
    response = client.post("/notices/new", data={"title": "t", "body": "x", "audience": "secret"})
    assert "お知らせを読める人を選んでください。" in response.get_data(as_text=True)
    assert db.session.execute(select(Announcement)).first() is None


@pytest.mark.parametrize("path", ["/notices/new", "/notices/manage", "/notices/1/edit"])
def test_publisher_pages_are_404_for_members(client, login_as, user, staff, announce, path):
    announce(staff)
    login_as(user)
    assert client.get(path).status_code == 404
    assert client.post("/notices/1/withdraw").status_code == 404


def test_publisher_pages_send_guests_to_login(client):
    assert client.get("/notices/new").status_code == 302


def test_list_page_queries_do_not_grow_with_announcements(client, staff, announce):
    announce(staff)
    client.get("/notices")
    with count_queries() as few:
        client.get("/notices")
    for n in range(15):
        announce(staff, title=f"お知らせ {n}")
    with count_queries() as many:
        client.get("/notices")
    assert len(many) == len(few)


def test_home_shows_pinned_first_for_guests(client, staff, announce):
    announce(staff, title="普通のお知らせ")
    announce(staff, title="固定のお知らせ", pinned_until=tomorrow())
    html = client.get("/").get_data(as_text=True)
    assert html.index("固定のお知らせ") < html.index("普通のお知らせ")
