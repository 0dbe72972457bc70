"""Community rules through the services: creation and approval, membership and roles, topics
and posts, events, reminders and iCalendar files."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from app.auth.models import RoleCode
from app.community import services
from app.community.models import (
    CommunityBan,
    CommunityMember,
    EventParticipant,
    JoinRequest,
    Topic,
    TopicPost,
)
from app.community.services import CommunityError, NotVisible
from app.db import utcnow
from app.extensions import db
from app.moderation.models import ModerationAction
from app.permissions import AnonymousViewer, can_view
from app.sns.models import Notification


def _count(model: Any, **where: Any) -> int:
    stmt = select(func.count()).select_from(model)
    for key, value in where.items():
        stmt = stmt.where(getattr(model, key) == value)
    return int(db.session.execute(stmt).scalar_one())


# --- communities ------------------------------------------------------------------------------


def test_create_checks_fields(app: Any, user: Any) -> None:
    with pytest.raises(CommunityError) as err:
        services.create_community(user, name="会", category="存在しない", kind="open")
    assert err.value.field == "category"
    with pytest.raises(CommunityError) as err:
        services.create_community(user, name="会", category="地域", kind="public")
    assert err.value.field == "kind"
    with pytest.raises(CommunityError) as err:
        services.create_community(user, name="x" * 81, category="地域")
    assert err.value.field == "name"
    with pytest.raises(CommunityError):
        services.create_community(user, name="会", category="地域", official=True)
    com = services.create_community(user, name="会", category="地域")
    db.session.commit()
    assert services.membership(com, user).role == "admin"
    assert com.member_count == 1 and com.status == "approved"


def test_approval_setting_holds_new_communities(
    app: Any, make: Any, user: Any, other_user: Any
) -> None:
    moderator = make.user(role=RoleCode.MODERATOR)
    services.set_require_approval(moderator, True)
    com = services.create_community(user, name="承認待ち", category="地域")
    db.session.commit()
    assert com.status == "pending" and com.hidden_at is not None
    assert can_view(user, com) and can_view(moderator, com)
    assert not can_view(other_user, com)
    assert com not in services.community_list(other_user)
    with pytest.raises(NotVisible):
        services.join_community(other_user, com)
    with pytest.raises(NotVisible):
        services.approve_community(user, com)  # a member cannot moderate
    services.approve_community(moderator, com)
    db.session.commit()
    assert can_view(other_user, com) and com.status == "approved"
    actions = db.session.execute(select(ModerationAction.action)).scalars().all()
    assert "community_approve" in actions
    # A moderator's own community needs no approval.
    assert services.create_community(moderator, name="公認", category="防災").status == "approved"


def test_reject_and_moderator_edit_are_logged(
    app: Any, make: Any, user: Any, other_user: Any, community: Any
) -> None:
    moderator = make.user(role=RoleCode.MODERATOR)
    services.set_require_approval(moderator, True)
    held = services.create_community(user, name="却下", category="地域")
    db.session.commit()
    with pytest.raises(CommunityError):
        services.reject_community(moderator, held, "")
    services.reject_community(moderator, held, "趣旨が不明です")
    db.session.commit()
    assert held.status == "rejected" and held.hidden_reason == "趣旨が不明です"
    assert not can_view(other_user, held)
    com = community(user, members=(other_user,))
    changed = services.moderator_edit_community(
        moderator, com, kind="secret", admin=other_user, official=True, reason="依頼"
    )
    db.session.commit()
    assert changed == ["kind", "admin", "official"]
    assert com.admin_id == other_user.id
    assert services.membership(com, other_user).role == "admin"
    assert services.membership(com, user).role == "subadmin"
    logged = set(db.session.execute(select(ModerationAction.action)).scalars())
    assert {"community_reject", "community_edit_kind", "community_edit_admin"} <= logged
    with pytest.raises(NotVisible):
        services.moderator_edit_community(user, com, kind="open", admin=None, official=False)


# --- membership -------------------------------------------------------------------------------


def test_join_open_twice_gives_one_row(
    app: Any, user: Any, other_user: Any, community: Any
) -> None:
    com = community(user)
    first = services.join_community(other_user, com)
    db.session.commit()
    second = services.join_community(other_user, com)
    db.session.commit()
    assert first.user_id == second.user_id == other_user.id
    assert _count(CommunityMember, community_id=com.id) == 2
    db.session.refresh(com)
    assert com.member_count == 2


def test_join_approval_makes_a_request(
    app: Any, make: Any, user: Any, other_user: Any, community: Any
) -> None:
    com = community(user, kind="approval")
    third = make.user()
    row = services.join_community(other_user, com)
    db.session.commit()
    assert isinstance(row, JoinRequest)
    assert services.membership(com, other_user) is None
    with pytest.raises(CommunityError):
        services.approve_request(third, com, row.id)  # not an admin
    services.approve_request(user, com, row.id)
    db.session.commit()
    assert services.membership(com, other_user).role == "member"
    assert _count(JoinRequest) == 0


def test_secret_join_needs_an_invitation(
    app: Any, make: Any, user: Any, other_user: Any, community: Any
) -> None:
    com = community(user, kind="secret")
    assert not can_view(other_user, com)
    with pytest.raises(NotVisible):
        services.join_community(other_user, com)
    with pytest.raises(NotVisible):
        services.load_for_join(other_user, com.id)
    services.invite(user, com, other_user)
    db.session.commit()
    assert services.load_for_join(other_user, com.id) is com
    services.join_community(other_user, com)
    db.session.commit()
    assert can_view(other_user, com)
    assert services.invitation_for(com.id, other_user.id) is None


def test_ban_keeps_a_member_out(app: Any, user: Any, other_user: Any, community: Any) -> None:
    com = community(user, members=(other_user,))
    services.ban_member(user, com, other_user)
    db.session.commit()
    assert services.membership(com, other_user) is None
    assert _count(CommunityBan) == 1
    with pytest.raises(CommunityError):
        services.join_community(other_user, com)
    services.unban_member(user, com, other_user)
    services.join_community(other_user, com)
    db.session.commit()
    assert services.membership(com, other_user) is not None


def test_role_boundaries(app: Any, make: Any, user: Any, community: Any) -> None:
    sub, member, other_sub = make.user(), make.user(), make.user()
    com = community(user, members=(sub, member, other_sub))
    services.set_role(user, com, sub, "subadmin")
    services.set_role(user, com, other_sub, "subadmin")
    db.session.commit()
    # A sub-admin cannot remove or ban the admin, nor another sub-admin, nor change roles.
    for action in (services.remove_member, services.ban_member):
        with pytest.raises(CommunityError):
            action(sub, com, user)
        with pytest.raises(CommunityError):
            action(sub, com, other_sub)
    with pytest.raises(CommunityError):
        services.set_role(sub, com, member, "subadmin")
    # A member cannot change roles or remove anyone.
    with pytest.raises(CommunityError):
        services.set_role(member, com, member, "subadmin")
    with pytest.raises(CommunityError):
        services.remove_member(member, com, sub)
    with pytest.raises(CommunityError):
        services.set_role(user, com, member, "admin")  # admin only through a transfer
    with pytest.raises(CommunityError):
        services.transfer_admin(sub, com, sub)
    db.session.rollback()
    assert services.membership(com, user).role == "admin"
    assert services.membership(com, member).role == "member"
    # The sub-admin may remove a plain member; the admin may remove a sub-admin.
    services.remove_member(sub, com, member)
    services.remove_member(user, com, other_sub)
    db.session.commit()
    assert services.membership(com, member) is None
    assert services.membership(com, other_sub) is None


def test_leave_and_transfer(app: Any, user: Any, other_user: Any, community: Any) -> None:
    com = community(user, members=(other_user,))
    with pytest.raises(CommunityError):
        services.leave_community(user, com)
    services.transfer_admin(user, com, other_user)
    db.session.commit()
    assert com.admin_id == other_user.id
    services.leave_community(user, com)
    db.session.commit()
    assert services.membership(com, user) is None
    db.session.refresh(com)
    assert com.member_count == 1


# --- topics -----------------------------------------------------------------------------------


def test_topic_rules(app: Any, make: Any, user: Any, other_user: Any, community: Any) -> None:
    com = community(user, members=(other_user,))
    outsider = make.user()
    with pytest.raises(CommunityError):
        services.create_topic(com, outsider, title="t", body="b")
    with pytest.raises(CommunityError) as err:
        services.create_topic(com, user, title="t", body="x" * 10_001)
    assert err.value.field == "body"
    topic = services.create_topic(com, user, title="話題", body="本文")
    db.session.commit()
    assert can_view(outsider, topic)  # an open community's topics are read by any member
    with pytest.raises(CommunityError):
        services.add_post(topic, outsider, "返信")
    with pytest.raises(CommunityError) as err:
        services.add_post(topic, other_user, "x" * 5001)
    assert err.value.field == "body"
    post = services.add_post(topic, other_user, "返信です")
    db.session.commit()
    quoted = services.add_post(topic, user, "引用します", quote_id=post.id)
    db.session.commit()
    assert quoted.quote_id == post.id
    other_topic = services.create_topic(com, user, title="別", body="別")
    db.session.commit()
    with pytest.raises(CommunityError):
        services.add_post(other_topic, user, "x", quote_id=post.id)
    with pytest.raises(CommunityError):
        services.set_topic_flags(topic, other_user, closed=True)  # a member cannot close
    services.set_topic_flags(topic, user, closed=True, pinned=True)
    db.session.commit()
    with pytest.raises(CommunityError):
        services.add_post(topic, other_user, "閉じた後")
    db.session.rollback()
    assert _count(TopicPost, topic_id=topic.id) == 2
    db.session.refresh(topic)
    assert topic.post_count == 2


def test_topic_edit_delete_and_paging(
    app: Any, user: Any, other_user: Any, community: Any, topic: Any
) -> None:
    com = community(user, members=(other_user,))
    row = topic(com, other_user)
    with pytest.raises(CommunityError):
        services.edit_topic(row, user, title="t", body="b")  # not the author
    services.edit_topic(row, other_user, title="新しい題", body="新しい本文")
    for i in range(45):
        services.add_post(row, other_user, f"返信 {i}")
    db.session.commit()
    posts, pages = services.topic_posts(row, user, 1)
    assert len(posts) == 20 and pages == 3
    last, _pages = services.topic_posts(row, user, 3)
    assert [p.body for p in last][-1] == "返信 44" and len(last) == 5
    services.delete_post(posts[0], user)  # the admin removes a reply
    services.delete_topic(row, user)
    db.session.commit()
    assert not can_view(other_user, row)


def test_word_filter_holds_a_topic(app: Any, user: Any, other_user: Any, community: Any) -> None:
    from app.moderation.models import FilterEntry

    db.session.add(FilterEntry(kind="word", value="禁止語"))
    db.session.commit()
    com = community(user, members=(other_user,))
    held = services.create_topic(com, other_user, title="題", body="禁止語 を含む")
    db.session.commit()
    assert held.hidden_at is not None
    assert can_view(other_user, held) and not can_view(user, held)
    assert _count(Notification, kind="community_topic") == 0


# --- events -----------------------------------------------------------------------------------


def test_event_capacity_deadline_and_cancel(
    app: Any, make: Any, user: Any, community: Any, event: Any
) -> None:
    a, b = make.user(), make.user()
    com = community(user, members=(a, b))
    row = event(com, user, capacity=1)
    services.join_event(a, row)
    db.session.commit()
    services.join_event(a, row)  # twice: still one row
    db.session.commit()
    with pytest.raises(CommunityError, match=r"full|満員"):
        services.join_event(b, row)
    db.session.rollback()
    assert _count(EventParticipant, event_id=row.id) == 1
    services.cancel_event(a, row)
    db.session.commit()
    services.join_event(b, row)
    db.session.commit()
    db.session.refresh(row)
    assert row.participant_count == 1
    late = event(com, user, deadline_at=utcnow() + dt.timedelta(hours=1))
    with pytest.raises(CommunityError):
        services.join_event(a, late, now=utcnow() + dt.timedelta(hours=2))
    outsider = make.user()
    with pytest.raises(CommunityError):
        services.join_event(outsider, late)


def test_event_checks(app: Any, user: Any, community: Any) -> None:
    com = community(user)
    now = utcnow()
    with pytest.raises(CommunityError) as err:
        services.create_event(com, user, title="t", starts_at=now - dt.timedelta(hours=1))
    assert err.value.field == "starts_at"
    with pytest.raises(CommunityError) as err:
        services.create_event(
            com,
            user,
            title="t",
            starts_at=now + dt.timedelta(days=1),
            deadline_at=now + dt.timedelta(days=2),
        )
    assert err.value.field == "deadline_at"
    with pytest.raises(CommunityError) as err:
        services.create_event(
            com, user, title="t", starts_at=now + dt.timedelta(days=1), capacity=0
        )
    assert err.value.field == "capacity"


def test_remind_events_once(app: Any, make: Any, user: Any, community: Any, event: Any) -> None:
    a = make.user()
    com = community(user, members=(a,))
    soon = event(com, user, days=0.5)
    later = event(com, user, days=3)
    services.join_event(a, soon)
    services.join_event(a, later)
    db.session.commit()
    assert services.remind_events() == 1
    db.session.commit()
    assert services.remind_events() == 0
    db.session.commit()
    notes = db.session.execute(
        select(Notification).where(Notification.kind == "community_event")
    ).scalars()
    assert [(n.user_id, n.object_id) for n in notes] == [(a.id, soon.id)]


def test_ics_escaping(app: Any, user: Any, community: Any, event: Any) -> None:
    com = community(user)
    row = event(com, user, title="会議; 予算, 決算\\確認", place="公民館\n2階")
    text = services.event_ics(row, "https://example.jp/events/1")
    assert "SUMMARY:会議\\; 予算\\, 決算\\\\確認\r\n" in text
    assert "LOCATION:公民館\\n2階\r\n" in text
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    long = services._ics_fold("DESCRIPTION:" + "あ" * 60)
    assert all(len(part.encode()) <= 75 for part in long.split("\r\n"))


# --- visibility of secret communities ---------------------------------------------------------


def test_secret_content_reaches_no_non_member(
    app: Any, make: Any, user: Any, other_user: Any, community: Any, topic: Any, event: Any
) -> None:
    member = make.user()
    com = community(user, kind="secret", members=(member,))
    row = topic(com, member)
    post = services.add_post(row, user, "返信")
    ev = event(com, user)
    db.session.commit()
    for viewer in (other_user, AnonymousViewer(), make.user(role=RoleCode.MODERATOR)):
        for obj in (com, row, post, ev):
            assert not can_view(viewer, obj)
        assert com not in services.community_list(viewer)
        assert row not in services.recent_topics_for_member(viewer)
        assert ev not in services.upcoming_events(None, viewer, limit=50)
    assert row in services.recent_topics_for_member(user)
    # Notifications went to members only, and vanish for one who leaves.
    targets = set(
        db.session.execute(
            select(Notification.user_id).where(Notification.kind.like("community_%"))
        ).scalars()
    )
    assert targets == {user.id, member.id}
    from app.sns.services import notifications_for

    assert any(n.kind == "community_topic" for n in notifications_for(user))
    services.transfer_admin(user, com, member)
    services.leave_community(user, com)
    db.session.commit()
    assert not any(n.kind.startswith("community_") for n in notifications_for(user))


def test_counts_stay_consistent(app: Any, user: Any, other_user: Any, community: Any) -> None:
    com = community(user)
    services.join_community(other_user, com)
    services.leave_community(other_user, com)
    services.join_community(other_user, com)
    db.session.commit()
    db.session.refresh(com)
    assert com.member_count == _count(CommunityMember, community_id=com.id) == 2
    assert _count(Topic) == 0


def test_new_topic_mail_for_members_who_asked(
    app: Any, make: Any, user: Any, other_user: Any, community: Any, outbox: Any
) -> None:
    from app.sns.services import ensure_settings

    com = community(user, members=(other_user,))
    ensure_settings(other_user).email_kinds = "community_topic"
    db.session.commit()
    services.create_topic(com, user, title="防災訓練のお知らせ", body="日曜日です")
    db.session.commit()
    mails = [m for m in outbox() if m.to_addr == other_user.email]
    assert len(mails) == 1
    assert "新しいトピック" in mails[0].subject and "/topics/" in mails[0].body


def test_member_list_visibility_per_kind(
    app: Any, make: Any, user: Any, other_user: Any, community: Any
) -> None:
    member = make.user()
    open_com = community(user, members=(member,))
    approval = community(user, kind="approval", members=(member,))
    shown = services.member_lists(open_com, other_user)
    assert shown.shown and {m.user_id for m in shown.members} == {member.id}
    hidden = services.member_lists(approval, other_user)
    assert not hidden.shown and hidden.members == []
    assert [m.user_id for m in hidden.admins] == [user.id]  # the admin is always named
    assert {m.user_id for m in services.member_lists(approval, member).members} == {member.id}
    assert not services.member_lists(open_com, AnonymousViewer()).shown


def test_reply_photos_are_seen_with_the_reply(
    app: Any, make: Any, user: Any, other_user: Any, community: Any, topic: Any
) -> None:
    import io

    from PIL import Image as PILImage

    from app.community.models import CommunityImage

    out = io.BytesIO()
    PILImage.new("RGB", (10, 10), "red").save(out, format="JPEG")
    com = community(user, kind="secret")
    row = topic(com, user)
    post = services.add_post(row, user, "写真です", files=[out.getvalue()])
    db.session.commit()
    image = db.session.execute(select(CommunityImage)).scalar_one()
    assert image.post_id == post.id
    assert services.images_for(row.id, [post.id]) == {post.id: [image.token]}
    assert services.image_visible(user, image)
    assert not services.image_visible(other_user, image)
    with pytest.raises(CommunityError) as err:
        services.add_post(row, user, "多すぎ", files=[out.getvalue()] * 4)
    assert err.value.field == "images"
    with pytest.raises(CommunityError) as err:
        services.add_post(row, user, "壊れた写真", files=[b"not an image"])
    assert err.value.field == "images"
