"""Community pages: 404 outside visibility (also for guessed URLs), forged actions refused with
a message and nothing changed, the .ics download, the moderators' page."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from app.auth.models import RoleCode
from app.community import services
from app.community.models import (
    Community,
    CommunityImage,
    CommunityMember,
    EventParticipant,
    TopicPost,
)
from app.extensions import db


def _png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (20, 20), "green").save(out, format="PNG")
    return out.getvalue()


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def test_guests_go_to_login(app: Any, client: Any, user: Any, community: Any) -> None:
    com = community(user)
    for url in ("/communities", f"/communities/{com.id}"):
        response = client.get(url)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_secret_urls_answer_404_to_non_members(
    app: Any,
    make: Any,
    user: Any,
    other_user: Any,
    login_as: Any,
    community: Any,
    topic: Any,
    event: Any,
) -> None:
    com = community(user, kind="secret")
    services.set_community_image(com, user, _png())
    db.session.commit()
    row = topic(com, user)
    post = services.add_post(row, user, "返信")
    ev = event(com, user)
    db.session.commit()
    client = login_as(other_user)
    gets = [
        f"/communities/{com.id}",
        f"/communities/{com.id}/members",
        f"/communities/{com.id}/topics",
        f"/communities/{com.id}/topics/new",
        f"/communities/{com.id}/events/new",
        f"/communities/{com.id}/edit",
        f"/topics/{row.id}",
        f"/posts/{post.id}/edit",
        f"/events/{ev.id}",
        f"/events/{ev.id}.ics",
        f"/community-images/{com.image_token}",
        "/communities/999999",
        "/topics/99999999999999999999",
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    posts = [
        f"/communities/{com.id}/join",
        f"/communities/{com.id}/leave",
        f"/topics/{row.id}/reply",
        f"/events/{ev.id}/join",
        f"/communities/{com.id}/members/{user.handle}/remove",
    ]
    for url in posts:
        assert client.post(url, data={"body": "x"}).status_code == 404, url
    assert "secret" not in _text(client.get("/communities"))
    assert com.name not in _text(client.get("/communities"))
    assert com.name not in _text(client.get("/"))
    assert db.session.execute(select(func.count(TopicPost.id))).scalar_one() == 1
    # The member sees all of it.
    member = login_as(user, the_client=app.test_client())
    for url in [*gets[:3], f"/topics/{row.id}", f"/events/{ev.id}", gets[10]]:
        assert member.get(url).status_code == 200, url


def test_create_join_post_flow(
    app: Any, user: Any, other_user: Any, login_as: Any, community: Any
) -> None:
    client = login_as(user)
    response = client.post(
        "/communities/new",
        data={
            "name": "北町 清掃ボランティア",
            "description": "月に一度の清掃です。",
            "category": "地域",
            "kind": "open",
            "image": (io.BytesIO(_png()), "a.png"),
        },
    )
    assert response.status_code == 302
    com = db.session.execute(select(Community)).scalar_one()
    assert com.image_token
    assert db.session.execute(select(func.count(CommunityImage.id))).scalar_one() == 1
    other = login_as(other_user, the_client=app.test_client())
    assert other.post(f"/communities/{com.id}/join").status_code == 302
    assert services.membership(com, other_user) is not None
    response = other.post(
        f"/communities/{com.id}/topics/new", data={"title": "集合場所", "body": "どこですか？"}
    )
    assert response.status_code == 302
    topic_url = response.headers["Location"]
    page = _text(client.get(topic_url))
    assert "集合場所" in page and "どこですか？" in page


def test_forged_inputs_change_nothing(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any, community: Any, topic: Any
) -> None:
    sub, member = make.user(), make.user()
    com = community(user, members=(sub, member, other_user))
    services.set_role(user, com, sub, "subadmin")
    row = topic(com, user)
    services.set_topic_flags(row, user, closed=True)
    db.session.commit()
    as_sub = login_as(sub)
    response = as_sub.post(
        f"/communities/{com.id}/members/{user.handle}/remove", follow_redirects=True
    )
    assert response.status_code == 200
    assert "管理人" in _text(response)  # a clear message, in Japanese
    as_member = login_as(member, the_client=app.test_client())
    response = as_member.post(
        f"/communities/{com.id}/members/{other_user.handle}/role",
        data={"role": "subadmin"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    response = as_member.post(
        f"/communities/{com.id}/members/{other_user.handle}/role", data={"role": "admin"}
    )
    assert response.status_code == 302
    response = as_member.post(
        f"/topics/{row.id}/reply", data={"body": "閉じています？"}, follow_redirects=True
    )
    assert "締め切られ" in _text(response) or "closed" in _text(response)
    response = as_member.post(
        f"/topics/{row.id}/reply", data={"body": "x" * 5001}, follow_redirects=True
    )
    assert response.status_code == 200
    db.session.expire_all()
    roles = dict(
        db.session.execute(
            select(CommunityMember.user_id, CommunityMember.role).where(
                CommunityMember.community_id == com.id
            )
        ).all()
    )
    assert roles == {
        user.id: "admin",
        sub.id: "subadmin",
        member.id: "member",
        other_user.id: "member",
    }
    assert db.session.execute(select(func.count(TopicPost.id))).scalar_one() == 0


def test_event_join_full_and_ics(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any, community: Any, event: Any
) -> None:
    third = make.user()
    com = community(user, members=(other_user, third))
    ev = event(com, user, capacity=1, title="餅つき, 大会", place="公園; 広場")
    client = login_as(other_user)
    assert client.post(f"/events/{ev.id}/join").status_code == 302
    late = login_as(third, the_client=app.test_client())
    response = late.post(f"/events/{ev.id}/join", follow_redirects=True)
    assert "満員" in _text(response)
    assert db.session.execute(select(func.count(EventParticipant.user_id))).scalar_one() == 1
    response = client.get(f"/events/{ev.id}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    body = _text(response)
    assert "SUMMARY:餅つき\\, 大会" in body and "LOCATION:公園\\; 広場" in body


def test_moderation_page(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any, community: Any
) -> None:
    moderator = make.user(role=RoleCode.MODERATOR)
    member = login_as(user)
    assert member.get("/moderation/communities").status_code == 404
    assert 'href="/moderation/communities"' not in _text(member.get("/"))  # not in the menu
    mod = login_as(moderator, the_client=app.test_client())
    assert mod.get("/moderation/communities").status_code == 200
    assert 'href="/moderation/communities"' in _text(mod.get("/"))
    mod.post("/moderation/communities", data={"settings-require_approval": "y"})
    assert services.site_settings().require_approval
    held = services.create_community(other_user, name="審査中の会", category="趣味")
    db.session.commit()
    assert "審査中の会" in _text(mod.get("/moderation/communities"))
    assert login_as(user).get(f"/communities/{held.id}").status_code == 404
    assert mod.post(f"/moderation/communities/{held.id}/approve").status_code == 302
    db.session.expire_all()
    assert login_as(user).get(f"/communities/{held.id}").status_code == 200
    response = mod.post(
        f"/moderation/communities/{held.id}/edit",
        data={"kind": "secret", "admin_handle": other_user.handle, "reason": "相談により"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Community, held.id).kind == "secret"
    assert login_as(user).get(f"/communities/{held.id}").status_code == 404


def test_remind_events_cli(app: Any, user: Any, community: Any, event: Any) -> None:
    com = community(user)
    ev = event(com, user, days=0.5)
    services.join_event(user, ev)
    db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["community", "remind-events"])
    second = runner.invoke(args=["community", "remind-events"])
    assert first.exit_code == 0 and '"reminded": 1' in first.output
    assert second.exit_code == 0 and '"reminded": 0' in second.output


def test_join_commands(app: Any, user: Any, other_user: Any, community: Any, event: Any) -> None:
    com = community(user)
    ev = event(com, user, capacity=1)
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["community", "join", str(com.id), other_user.handle])
        assert result.exit_code == 0 and "CommunityMember" in result.output
        result = runner.invoke(args=["community", "event-join", str(ev.id), other_user.handle])
        assert result.exit_code == 0, result.output
    full = runner.invoke(args=["community", "event-join", str(ev.id), user.handle])
    assert full.exit_code == 1 and "満員" in full.output
    missing = runner.invoke(args=["community", "join", "999999", user.handle])
    assert missing.exit_code == 1
    db.session.rollback()
    assert db.session.execute(select(func.count(EventParticipant.user_id))).scalar_one() == 1


def _rejected(make: Any, admin: Any, name: str, reason: str) -> tuple[Any, Community]:
    """A community held for approval and rejected by a moderator; returns (moderator, it)."""
    moderator = make.user(role=RoleCode.MODERATOR)
    services.set_require_approval(moderator, True)
    held = services.create_community(admin, name=name, category="地域")
    db.session.commit()
    services.reject_community(moderator, held, reason)
    db.session.commit()
    return moderator, held


def test_a_rejected_community_can_be_changed_and_sent_again(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    moderator, held = _rejected(make, user, "川遊びの会", "活動内容を書いてください")
    client = login_as(user)
    page = _text(client.get(f"/communities/{held.id}"))
    assert "活動内容を書いてください" in page and "承認を再申請する" in page

    # Sent again unchanged: refused with the reason, still rejected.
    response = client.post(f"/communities/{held.id}/resubmit", follow_redirects=True)
    assert "先にモデレーターの理由に沿って" in _text(response)
    db.session.refresh(held)
    assert held.status == "rejected"

    # Changed, then sent again: waiting in the moderators' queue, still hidden from others.
    client.post(
        f"/communities/{held.id}/edit",
        data={"name": "川遊びの会", "description": "毎月第2日曜に信濃川で", "category": "地域"},
    )
    response = client.post(f"/communities/{held.id}/resubmit", follow_redirects=True)
    assert "モデレーターに承認を再申請しました。" in _text(response)
    db.session.refresh(held)
    assert held.status == "pending" and held.description == "毎月第2日曜に信濃川で"
    assert held in services.pending_communities()
    assert "承認を再申請する" not in _text(client.get(f"/communities/{held.id}"))
    # Pending again: a second request is refused, and others still cannot see it.
    client.post(f"/communities/{held.id}/resubmit")
    db.session.refresh(held)
    assert held.status == "pending"
    assert (
        login_as(other_user, the_client=app.test_client())
        .get(f"/communities/{held.id}")
        .status_code
        == 404
    )
    services.approve_community(moderator, held)
    db.session.commit()
    assert held.status == "approved"


def test_only_the_admin_sends_a_rejected_community_again(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    moderator, held = _rejected(make, user, "却下の会", "重複しています")
    held.updated_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    db.session.commit()
    # Another member cannot see it (404); a moderator sees it but is not its admin.
    assert login_as(other_user).post(f"/communities/{held.id}/resubmit").status_code == 404
    with pytest.raises(services.CommunityError):
        services.resubmit_community(moderator, held)
    db.session.rollback()
    db.session.refresh(held)
    assert held.status == "rejected"


def _photo_tokens(**where: int) -> list[str]:
    column, value = next(iter(where.items()))
    return list(
        db.session.execute(
            select(CommunityImage.token)
            .where(getattr(CommunityImage, column) == value)
            .order_by(CommunityImage.id)
        ).scalars()
    )


def test_the_author_removes_and_adds_photos_of_a_topic_and_a_reply(
    app: Any, user: Any, other_user: Any, login_as: Any, community: Any
) -> None:
    from app.sns import images

    com = community(user, members=(other_user,))
    row = services.create_topic(com, user, title="花壇", body="写真です", files=[_png(), _png()])
    post = services.add_post(row, user, "返信の写真", files=[_png()])
    db.session.commit()
    first, second = _photo_tokens(topic_id=row.id)
    client = login_as(user)

    # The edit page shows each photo with a labelled checkbox.
    page = _text(client.get(f"/topics/{row.id}/edit"))
    assert f'value="{first}"' in page and f'value="{second}"' in page
    # Remove one, add two: three in all.
    response = client.post(
        f"/topics/{row.id}/edit",
        data={
            "title": "花壇",
            "body": "写真を替えました",
            "remove_images": [first],
            "images": [(io.BytesIO(_png()), "a.png"), (io.BytesIO(_png()), "b.png")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    tokens = _photo_tokens(topic_id=row.id)
    assert len(tokens) == 3 and first not in tokens and second in tokens
    assert not images.path_for(first).exists()  # the file went with the commit
    assert client.get(f"/community-images/{first}").status_code == 404

    # A fourth photo is refused with a message; nothing changes.
    response = client.post(
        f"/topics/{row.id}/edit",
        data={"title": "花壇", "body": "もう一枚", "images": [(io.BytesIO(_png()), "c.png")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and "写真は3枚までにしてください。" in _text(response)
    assert _photo_tokens(topic_id=row.id) == tokens
    db.session.refresh(row)
    assert row.body == "写真を替えました"

    # A reply's photo is removed the same way; a forged token of another object is a form
    # error and removes nothing.
    (reply_photo,) = _photo_tokens(post_id=post.id)
    response = client.post(
        f"/posts/{post.id}/edit",
        data={"body": "写真なしに", "remove_images": [reply_photo, tokens[0]]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert _photo_tokens(topic_id=row.id) == tokens
    assert _photo_tokens(post_id=post.id) == [reply_photo]
    response = client.post(
        f"/posts/{post.id}/edit",
        data={"body": "写真なしに", "remove_images": [reply_photo]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert _photo_tokens(post_id=post.id) == []

    # Only the author edits: another member's forged removal is refused (403), nothing goes.
    other = login_as(other_user, the_client=app.test_client())
    response = other.post(
        f"/topics/{row.id}/edit",
        data={"title": "花壇", "body": "x", "remove_images": [tokens[0]]},
    )
    assert response.status_code == 403
    assert _photo_tokens(topic_id=row.id) == tokens
