"""SNS services without a request: notifications by email and digest, purge, restore window,
friend-request rules, footprints."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.extensions import db
from app.sns import services
from app.sns.models import Diary, Footprint, FriendRequest, Notification
from app.sns.services import NotVisible, SnsError


def test_email_per_kind_and_no_content_in_mail(
    make: Any, user: Any, other_user: Any, outbox: Any
) -> None:
    # Defaults: friend requests and messages come by email; comments do not.
    make.message(other_user, user, body="秘密の本文です", subject="件名")
    mails = outbox()
    assert len(mails) == 1 and mails[0].to_addr == user.email
    assert "秘密の本文です" not in mails[0].body and "/messages/with/bob" in mails[0].body
    diary = make.diary(user, visibility="members")
    make.comment(diary, other_user, "コメント本文")
    assert len(outbox()) == 1
    prefs = services.ensure_settings(user)
    prefs.email_kinds = "comment"
    db.session.commit()
    make.comment(diary, other_user, "二つ目")
    assert len(outbox()) == 2 and "/diary/" in outbox()[-1].body


def test_daily_digest(app: Any, make: Any, user: Any, other_user: Any, outbox: Any) -> None:
    prefs = services.ensure_settings(user)
    prefs.email_kinds = "comment,message"
    prefs.email_digest = True
    db.session.commit()
    diary = make.diary(user, visibility="members")
    make.comment(diary, other_user, "一")
    make.message(other_user, user, body="二")
    assert outbox() == []
    result = app.test_cli_runner().invoke(args=["sns", "digest"])
    assert result.exit_code == 0 and '"digests": 1' in result.output
    mails = outbox()
    assert len(mails) == 1 and mails[0].kind == "sns_digest"
    assert mails[0].body.count("http://localhost/") == 2
    result = app.test_cli_runner().invoke(args=["sns", "digest"])
    assert '"digests": 0' in result.output


def test_purge_and_restore_window(app: Any, make: Any, user: Any, other_user: Any) -> None:
    old = make.diary(user, title="古い")
    recent = make.diary(user, title="新しい")
    services.delete_diary(old, user)
    services.delete_diary(recent, user)
    old.deleted_at = utcnow() - dt.timedelta(days=31)
    db.session.add(
        Footprint(
            owner_id=user.id, visitor_id=other_user.id, visited_at=utcnow() - dt.timedelta(days=40)
        )
    )
    db.session.commit()
    with pytest.raises(SnsError):
        services.restore_diary(old, user)
    with pytest.raises(NotVisible):
        services.restore_diary(recent, other_user)
    result = app.test_cli_runner().invoke(args=["sns", "purge"])
    assert result.exit_code == 0
    assert '"diaries": 1' in result.output and '"footprints": 1' in result.output
    assert db.session.execute(select(func.count(Diary.id))).scalar_one() == 1
    services.restore_diary(db.session.get(Diary, recent.id), user)
    db.session.commit()


def test_friend_request_rules(make: Any, user: Any, other_user: Any) -> None:
    with pytest.raises(SnsError):
        services.send_friend_request(user, user)
    with pytest.raises(SnsError):
        services.send_friend_request(user, other_user, "x" * 501)
    services.send_friend_request(user, other_user, "よろしく")
    db.session.commit()
    with pytest.raises(SnsError):
        services.send_friend_request(other_user, user)  # answer the pending one instead
    req = db.session.execute(select(FriendRequest)).scalar_one()
    with pytest.raises(NotVisible):
        services.accept_friend_request(req, user)  # only the recipient accepts
    services.accept_friend_request(req, other_user)
    db.session.commit()
    assert services.are_friends(user, other_user) and services.are_friends(other_user, user)
    with pytest.raises(SnsError):
        services.send_friend_request(user, other_user)
    kinds = sorted(n.kind for n in db.session.execute(select(Notification)).scalars())
    assert kinds == ["friend_accepted", "friend_request"]
    services.remove_friend(user, other_user)
    db.session.commit()
    assert not services.are_friends(other_user, user)
    make.block(other_user, user)
    with pytest.raises(NotVisible):
        services.send_friend_request(user, other_user)


def test_accepting_answers_a_crossed_request_too(make: Any, user: Any, other_user: Any) -> None:
    """Two members who asked each other at the same moment (each check ran before the other's
    row existed): accepting one request leaves no stale request the other way."""
    mine = FriendRequest(sender_id=user.id, recipient_id=other_user.id, message="")
    theirs = FriendRequest(sender_id=other_user.id, recipient_id=user.id, message="")
    db.session.add_all([mine, theirs])
    db.session.commit()
    services.accept_friend_request(mine, other_user)
    db.session.commit()
    assert services.are_friends(user, other_user)
    assert db.session.scalar(select(func.count()).select_from(FriendRequest)) == 0


def test_footprint_throttle_and_30_days(make: Any, user: Any, other_user: Any) -> None:
    now = utcnow()
    assert services.leave_footprint(other_user.id, user.id, now)
    db.session.commit()
    assert not services.leave_footprint(other_user.id, user.id, now + dt.timedelta(minutes=5))
    assert services.leave_footprint(other_user.id, user.id, now + dt.timedelta(minutes=11))
    assert not services.leave_footprint(user.id, user.id, now)
    assert not services.leave_footprint(None, user.id, now)
    db.session.commit()
    seen = services.footprints(user, now + dt.timedelta(days=1))
    assert seen is not None and [f.visitor_id for f in seen] == [other_user.id]
    assert services.footprints(user, now + dt.timedelta(days=31)) == []
    make.block(user, other_user)
    assert services.footprints(user, now) == []


def test_visit_marker_new_since_last_visit(make: Any, user: Any, other_user: Any) -> None:
    make.friends(user, other_user)
    t0 = utcnow()
    services.touch_visit(user, t0)
    db.session.commit()
    old = make.diary(other_user, title="前から", created_at=t0 - dt.timedelta(hours=1))
    new = make.diary(other_user, title="新着", created_at=t0 + dt.timedelta(minutes=10))
    services.touch_visit(user, t0 + dt.timedelta(hours=2))  # a new visit starts
    db.session.commit()
    page = services.timeline(user)
    flags = {item.diary.id: item.is_new for item in page.items}
    assert flags == {new.id: True, old.id: False}


def test_timeline_cursor_pages_without_gaps(make: Any, user: Any, other_user: Any) -> None:
    make.friends(user, other_user)
    same = utcnow()
    for i in range(7):
        make.diary(
            other_user, title=f"d{i}", created_at=same if i < 4 else same - dt.timedelta(minutes=i)
        )
    seen: list[int] = []
    cursor = None
    while True:
        page = services.timeline(user, cursor, limit=3)
        seen.extend(item.diary.id for item in page.items)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == 7 == len(set(seen))


def test_timeline_join_point_for_other_sources(make: Any, user: Any, other_user: Any) -> None:
    """Communities add a source; the visibility rules still apply to what it brings."""
    stranger = make.user(handle="stranger")
    public = make.diary(stranger, visibility="members", title="他の人の日記")
    private = make.diary(stranger, visibility="friends", title="友達限定")

    def source(viewer: Any) -> Any:
        return Diary.author_id == stranger.id

    services.register_timeline_source(source)
    try:
        ids = {item.diary.id for item in services.timeline(user).items}
    finally:
        services.TIMELINE_SOURCES.remove(source)
    assert public.id in ids and private.id not in ids
