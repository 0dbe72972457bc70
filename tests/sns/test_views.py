"""SNS pages through the test client: what each viewer sees, 404 outside visibility, 403 for
edits, forged values refused, no 500 on bad input."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.sns.models import (
    Block,
    Comment,
    Diary,
    FriendRequest,
    Friendship,
    Message,
    Notification,
    ProfileValue,
    Report,
)


@pytest.fixture
def carol(make: Any) -> Any:
    return make.user(handle="carol", display_name="三条 花")


def _strip_nonce(html: str) -> str:
    """A page without its per-response nonce and with object ids in paths made equal."""
    return re.sub(r"/diary/\d+", "/diary/N", re.sub(r'nonce="[^"]*"', "", html))


def _count(model: Any) -> int:
    db.session.expire_all()
    return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


def test_friend_request_accept_and_friends_only_diary(
    app: Any, user: Any, other_user: Any, carol: Any, login_as: Any
) -> None:
    """A and B become friends; A posts a friends-only diary; B sees it; C gets 404."""
    a = app.test_client()
    b = app.test_client()
    c = app.test_client()
    login_as(user, the_client=a)
    login_as(other_user, the_client=b)
    login_as(carol, the_client=c)

    r = a.post("/members/bob/friend-request", data={"message": "公民館でお会いしました"})
    assert r.status_code == 302
    req = db.session.execute(select(FriendRequest)).scalar_one()
    page = b.get("/friends").get_data(as_text=True)
    assert "公民館でお会いしました" in page
    assert b.post(f"/friend-requests/{req.id}/accept").status_code == 302
    assert _count(Friendship) == 2

    r = a.post(
        "/diary/new",
        data={
            "title": "友達限定の話",
            "body": "内緒の話です https://example.jp/a",
            "visibility": "friends",
        },
    )
    assert r.status_code == 302
    diary_url = r.headers["Location"]
    assert diary_url.startswith("/diary/")
    body = b.get(diary_url).get_data(as_text=True)
    assert "友達限定の話" in body
    assert 'rel="nofollow noopener ugc"' in body
    assert "友達限定の話" in b.get("/").get_data(as_text=True)  # B's home timeline
    assert "友達限定の話" in b.get("/timeline").get_data(as_text=True)

    missing = c.get("/diary/999999")
    hidden = c.get(diary_url)
    assert hidden.status_code == 404 == missing.status_code
    h, m = _strip_nonce(hidden.get_data(as_text=True)), _strip_nonce(missing.get_data(as_text=True))
    assert h == m
    for path in ("/", "/diary", "/members/alice", "/members/alice/diary", "/timeline", "/members"):
        assert "友達限定の話" not in c.get(path).get_data(as_text=True), path
    guest = app.test_client()
    assert guest.get(diary_url).status_code == 404
    assert "友達限定の話" not in guest.get("/members/alice/diary.atom").get_data(as_text=True)


def test_object_urls_as_guest_and_unrelated_member(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    """Every object URL answers 404 for a guest and for an unrelated member (A21)."""
    diary = make.diary(user, visibility="friends", title="秘密")
    make.friends(user, make.user(handle="friend1"))
    comment = make.comment(diary, user, "自分のコメント")
    msg = make.message(user, make.user(handle="penpal"), "手紙")
    private_photo_diary = make.diary(user, visibility="private", title="写真")
    paths_get = [
        f"/diary/{diary.id}",
        f"/report/diary/{diary.id}",
        f"/report/comment/{comment.id}",
        f"/report/message/{msg.id}",
        f"/diary/{private_photo_diary.id}",
    ]
    paths_post = [
        f"/diary/{diary.id}/comments",
        f"/comments/{comment.id}/delete",
        f"/messages/{msg.id}/delete",
        f"/diary/{diary.id}/delete",
        f"/diary/{diary.id}/restore",
        "/friend-requests/1/accept",
    ]
    guest = app.test_client()
    for path in paths_get:
        r = guest.get(path)
        assert r.status_code in (302, 404), path  # login-only pages send guests to log in
        assert "秘密" not in r.get_data(as_text=True)
    assert guest.get(f"/diary/{diary.id}").status_code == 404
    assert guest.get("/members").status_code == 302  # the directory needs a login
    stranger = login_as(other_user)
    for path in paths_get:
        assert stranger.get(path).status_code == 404, path
    for path in paths_post:
        assert stranger.post(path, data={"body": "x"}).status_code == 404, path
    assert _count(Comment) == 1
    db.session.refresh(diary)
    assert diary.deleted_at is None


def test_edit_rights_answer_403(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    diary = make.diary(user, visibility="members", title="みんなへ")
    client = login_as(other_user)
    assert client.get(f"/diary/{diary.id}").status_code == 200
    assert client.get(f"/diary/{diary.id}/edit").status_code == 403
    assert (
        client.post(f"/diary/{diary.id}/edit", data={"title": "x", "body": "y"}).status_code == 403
    )
    assert client.post(f"/diary/{diary.id}/delete").status_code == 403
    db.session.refresh(diary)
    assert diary.title == "みんなへ" and diary.deleted_at is None


def test_forged_visibility_is_a_form_error(app: Any, make: Any, user: Any, login_as: Any) -> None:
    client = login_as(user)
    r = client.post("/diary/new", data={"title": "t", "body": "b", "visibility": "everyone!"})
    assert r.status_code == 200
    assert _count(Diary) == 0
    diary = make.diary(user, visibility="private")
    r = client.post(
        f"/diary/{diary.id}/edit",
        data={"title": "t2", "body": "b2", "visibility": "world", "author_id": "999"},
    )
    assert r.status_code == 200
    db.session.refresh(diary)
    assert diary.visibility == "private" and diary.title != "t2"
    r = client.post(
        "/me/profile", data={"display_name": "x", "f_hobbies": "釣り", "v_hobbies": "x"}
    )
    assert r.status_code == 200
    assert db.session.get(ProfileValue, (user.id, "hobbies")) is None
    r = client.post(
        "/settings/sns",
        data={"friends_visibility": "everybody", "email_kinds": ["message", "bogus"]},
    )
    assert r.status_code == 200


def test_oversized_and_bad_input_no_500(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    client = login_as(user)
    big = "あ" * 10_001
    assert (
        client.post(
            "/diary/new", data={"title": "t", "body": big, "visibility": "public"}
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/diary/new", data={"title": "t" * 101, "body": "b", "visibility": "public"}
        ).status_code
        == 200
    )
    assert _count(Diary) == 0
    diary = make.diary(other_user, visibility="public", allow_comments=False)
    r = client.post(f"/diary/{diary.id}/comments", data={"body": "hi"})
    assert r.status_code == 302
    assert _count(Comment) == 0
    diary2 = make.diary(other_user, visibility="public")
    client.post(f"/diary/{diary2.id}/comments", data={"body": "x" * 2001})
    assert _count(Comment) == 0
    assert client.post("/members/alice/friend-request", data={}).status_code == 200  # self
    assert _count(FriendRequest) == 0
    assert client.post("/messages/with/bob", data={"body": "m" * 5001}).status_code == 200
    assert _count(Message) == 0
    for path in (
        "/diary/abc",
        "/diary/99999999999999999999999",
        "/members/" + "x" * 300,
        "/members/alice/diary/2026/13",
        "/members/alice/diary/99999/1",
        "/timeline?after=garbage",
        "/timeline?after=99999999999999999999999999_1",
        "/diary?after=1_x",
        "/members?page=abc",
        "/images/..%2F..%2Fetc%2Fpasswd",
        "/report/nothing/1",
        "/friend-requests/1/explode",
        "/members/alice?as=admin",
    ):
        r = client.get(path)
        assert r.status_code in (200, 404, 405), (path, r.status_code)


def test_duplicate_request_block_and_messaging_a_blocker(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    client = login_as(user)
    assert client.post("/members/bob/friend-request", data={}).status_code == 302
    r = client.post("/members/bob/friend-request", data={})
    assert r.status_code == 200
    assert "already" in r.get_data(as_text=True) or "すでに" in r.get_data(as_text=True)
    assert _count(FriendRequest) == 1
    make.friends(user, other_user)
    diary = make.diary(user, visibility="friends", title="ブロック前")
    bob = app.test_client()
    login_as(other_user, the_client=bob)
    assert bob.get(f"/diary/{diary.id}").status_code == 200
    assert client.post("/members/bob/block").status_code == 302
    assert _count(Block) == 1 and _count(Friendship) == 0 and _count(FriendRequest) == 0
    # Takes effect on the next request (A25): page, profile, lists, messages, requests.
    assert bob.get(f"/diary/{diary.id}").status_code == 404
    assert bob.get("/members/alice").status_code == 404
    assert "ブロック前" not in bob.get("/diary").get_data(as_text=True)
    assert bob.post("/messages/with/alice", data={"body": "hello"}).status_code == 404
    assert bob.post("/members/alice/friend-request", data={}).status_code == 404
    assert bob.post(f"/diary/{diary.id}/comments", data={"body": "x"}).status_code == 404
    assert _count(Message) == 0
    assert client.post(f"/blocks/{other_user.id}/remove").status_code == 302
    assert bob.get("/members/alice").status_code == 200


def test_profile_fields_visibility_and_preview(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    client = login_as(user)
    r = client.post(
        "/me/profile",
        data={
            "display_name": "長岡 花子",
            "f_nickname": "はなちゃん",
            "v_nickname": "public",
            "f_hobbies": "盆栽",
            "v_hobbies": "friends",
            "f_district": "北町",
            "v_district": "members",
            "f_birth_year": "1950",
            "v_birth_year": "private",
            "f_birthday": "04-29",
            "v_birthday": "friends_of_friends",
            "f_sex": "female",
            "v_sex": "private",
            "f_self_intro": "よろしくお願いします",
            "v_self_intro": "members",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    guest = app.test_client().get("/members/alice").get_data(as_text=True)
    assert (
        "はなちゃん" in guest
        and "盆栽" not in guest
        and "北町" not in guest
        and "1950" not in guest
    )
    as_guest = client.get("/members/alice?as=guest").get_data(as_text=True)
    assert "はなちゃん" in as_guest and "盆栽" not in as_guest
    as_friend = client.get("/members/alice?as=friend").get_data(as_text=True)
    assert "盆栽" in as_friend and "1950" not in as_friend
    bob = app.test_client()
    login_as(other_user, the_client=bob)
    page = bob.get("/members/alice").get_data(as_text=True)
    assert "北町" in page and "盆栽" not in page
    assert bob.get("/members/alice?as=friend").status_code == 404  # preview is the owner's only
    bad = client.post("/me/profile", data={"display_name": "x", "f_birth_year": "1850"})
    assert bad.status_code == 200
    bad = client.post("/me/profile", data={"display_name": "x", "f_district": "東京"})
    assert bad.status_code == 200
    bad = client.post("/me/profile", data={"display_name": "", "f_nickname": "n"})
    assert bad.status_code == 200


def test_comments_notifications_and_unread_count(
    app: Any, make: Any, user: Any, other_user: Any, carol: Any, login_as: Any
) -> None:
    diary = make.diary(user, visibility="members", title="みんなの日記")
    bob = login_as(other_user)
    assert bob.post(f"/diary/{diary.id}/comments", data={"body": "いいですね"}).status_code == 302
    c = app.test_client()
    login_as(carol, the_client=c)
    assert c.post(f"/diary/{diary.id}/comments", data={"body": "私も"}).status_code == 302
    kinds = sorted((n.user_id, n.kind) for n in db.session.execute(select(Notification)).scalars())
    assert kinds == sorted([(user.id, "comment"), (user.id, "comment"), (other_user.id, "reply")])
    a = app.test_client()
    login_as(user, the_client=a)
    home = a.get("/").get_data(as_text=True)
    assert 'class="nav-count">2' in home
    page = a.get("/notifications").get_data(as_text=True)
    assert "千代田 太郎" in page
    assert 'class="nav-count"' not in a.get("/").get_data(as_text=True)
    # The diary goes private: the reply notification no longer shows it to bob.
    diary.visibility = "private"
    db.session.commit()
    page = bob.get("/notifications").get_data(as_text=True)
    assert "三条 花" not in page


def test_messages_thread_unread_and_delete_for_me(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    a = login_as(user)
    assert (
        a.post("/messages/with/bob", data={"subject": "回覧板", "body": "明日届けます"}).status_code
        == 302
    )
    msg = db.session.execute(select(Message)).scalar_one()
    b = app.test_client()
    login_as(other_user, the_client=b)
    inbox = b.get("/messages").get_data(as_text=True)
    assert "回覧板" in inbox
    # Japanese when the catalogue is compiled, English otherwise.
    assert "未読のメッセージが1件あります。" in inbox or "You have 1 unread message." in inbox
    thread = b.get("/messages/with/alice").get_data(as_text=True)
    assert "明日届けます" in thread
    db.session.refresh(msg)
    assert msg.read_at is not None
    assert b.post(f"/messages/{msg.id}/delete").status_code == 302
    assert "回覧板" not in b.get("/messages").get_data(as_text=True)
    assert "回覧板" in a.get("/messages/sent").get_data(as_text=True)
    stranger = make.user(handle="stranger")
    s = app.test_client()
    login_as(stranger, the_client=s)
    assert s.post(f"/messages/{msg.id}/delete").status_code == 404
    assert "明日届けます" not in s.get("/messages/with/alice").get_data(as_text=True)


def test_footprints_only_to_me_and_opt_out(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    b = login_as(other_user)
    assert b.get("/members/alice").status_code == 200
    a = app.test_client()
    login_as(user, the_client=a)
    assert "千代田 太郎" in a.get("/footprints").get_data(as_text=True)
    assert "長岡 花子" not in b.get("/footprints").get_data(as_text=True)
    # Opt out: bob leaves no footprint and sees none.
    r = b.post("/settings/sns", data={"friends_visibility": "members", "email_kinds": []})
    assert r.status_code == 302
    carol = make.user(handle="carol2")
    c = app.test_client()
    login_as(carol, the_client=c)
    c.get("/members/bob")
    page = b.get("/footprints").get_data(as_text=True)
    assert "turned footprints off" in page or "オフ" in page


def test_soft_delete_and_restore(app: Any, make: Any, user: Any, login_as: Any) -> None:
    diary = make.diary(user, visibility="public", title="消す日記")
    a = login_as(user)
    assert a.post(f"/diary/{diary.id}/delete").status_code == 302
    assert app.test_client().get(f"/diary/{diary.id}").status_code == 404
    assert a.get(f"/diary/{diary.id}").status_code == 404
    assert "消す日記" in a.get("/diary/trash").get_data(as_text=True)
    assert a.post(f"/diary/{diary.id}/restore").status_code == 302
    assert app.test_client().get(f"/diary/{diary.id}").status_code == 200


def test_atom_feed_has_public_entries_only(app: Any, make: Any, user: Any) -> None:
    make.diary(user, visibility="public", title="公開の日記", body="<script>alert(1)</script>")
    make.diary(user, visibility="members", title="会員の日記")
    r = app.test_client().get("/members/alice/diary.atom")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/atom+xml")
    text = r.get_data(as_text=True)
    assert "公開の日記" in text and "会員の日記" not in text
    assert "<script>" not in text


def test_monthly_archive(app: Any, make: Any, user: Any) -> None:
    import datetime as dt

    make.diary(
        user,
        visibility="public",
        title="四月の日記",
        created_at=dt.datetime(2026, 4, 10, 3, 0, tzinfo=dt.UTC),
    )
    make.diary(
        user,
        visibility="public",
        title="五月の日記",
        created_at=dt.datetime(2026, 4, 30, 16, 0, tzinfo=dt.UTC),  # 5/1 in Japan
    )
    client = app.test_client()
    april = client.get("/members/alice/diary/2026/4").get_data(as_text=True)
    assert "四月の日記" in april and "五月の日記" not in april
    may = client.get("/members/alice/diary/2026/5").get_data(as_text=True)
    assert "五月の日記" in may


def test_introduction_written_hidden_and_shown(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    make.friends(user, other_user)
    b = login_as(other_user)
    r = b.post("/members/alice/introduction", data={"body": "とても親切な方です"})
    assert r.status_code == 302
    guest_page = app.test_client().get("/members/alice").get_data(as_text=True)
    assert "とても親切な方です" not in guest_page  # friend list (and intros) default to members
    a = app.test_client()
    login_as(user, the_client=a)
    assert "とても親切な方です" in a.get("/members/alice").get_data(as_text=True)
    intro_id = db.session.execute(select(Notification.object_id)).scalar_one()
    assert a.post(f"/introductions/{intro_id}/hide").status_code == 302
    stranger = app.test_client()
    login_as(make.user(handle="stranger"), the_client=stranger)
    assert "とても親切な方です" not in stranger.get("/members/alice").get_data(as_text=True)
    assert "とても親切な方です" in a.get("/members/alice").get_data(as_text=True)
    other = make.user(handle="meddler")
    m = app.test_client()
    login_as(other, the_client=m)
    assert m.post(f"/introductions/{intro_id}/show").status_code == 404


def test_report_is_stored_and_received(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    diary = make.diary(other_user, visibility="members", title="怪しい宣伝")
    a = login_as(user)
    r = a.post(f"/report/diary/{diary.id}", data={"reason": "spam", "details": "宣伝です"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/report/received")
    assert a.get("/report/received").status_code == 200
    report = db.session.execute(select(Report)).scalar_one()
    assert report.kind == "diary" and "怪しい宣伝" in report.excerpt
    assert a.post(f"/report/diary/{diary.id}", data={"reason": "forged"}).status_code == 200
    assert _count(Report) == 1
    assert a.post(f"/report/profile/{other_user.id}", data={"reason": "other"}).status_code == 302


def test_moderator_sets_invite_quota(app: Any, make: Any, user: Any, login_as: Any) -> None:
    from app.auth.models import RoleCode

    mod = make.user(handle="npo_mod", role=RoleCode.MODERATOR)
    plain = login_as(user)
    assert plain.get("/moderation/invite-quotas").status_code == 404
    assert plain.get("/moderation/reports").status_code == 404
    assert plain.get("/admin/profile-fields").status_code == 404
    m = app.test_client()
    login_as(mod, the_client=m)
    assert m.get("/moderation/invite-quotas?q=alice").status_code == 200
    assert (
        m.post("/moderation/invite-quotas", data={"handle": "alice", "quota": "12"}).status_code
        == 302
    )
    db.session.refresh(user)
    assert user.invite_quota == 12
    assert (
        m.post("/moderation/invite-quotas", data={"handle": "alice", "quota": "-3"}).status_code
        == 200
    )
    assert (
        m.post("/moderation/invite-quotas", data={"handle": "nobody", "quota": "3"}).status_code
        == 200
    )


def test_admin_fixes_a_field_and_adds_an_extra_field(
    app: Any, make: Any, admin: Any, user: Any, login_as: Any
) -> None:
    make.profile_value(user, "hobbies", "釣り", "private")
    c = login_as(admin)
    r = c.post(
        "/admin/profile-fields",
        data={
            "which": "settings",
            "s-key": "hobbies",
            "s-default_visibility": "members",
            "s-fixed_visibility": "public",
        },
    )
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(ProfileValue, (user.id, "hobbies")).visibility == "public"
    r = c.post(
        "/admin/profile-fields",
        data={
            "which": "extra",
            "x-label_ja": "好きな場所",
            "x-label_en": "Favourite place",
            "x-kind": "text",
            "x-default_visibility": "members",
        },
    )
    assert r.status_code == 302
    r = c.post(
        "/admin/profile-fields",
        data={
            "which": "extra",
            "x-label_ja": "血液型",
            "x-kind": "choice",
            "x-choices": "A\nB\nO\nAB",
            "x-default_visibility": "friends",
        },
    )
    assert r.status_code == 302
    a = app.test_client()
    login_as(user, the_client=a)
    page = a.get("/me/profile").get_data(as_text=True)
    assert "好きな場所" in page and "血液型" in page
    assert "f_hobbies" in page and "v_hobbies" not in page  # fixed: no choice offered
    r = a.post(
        "/me/profile",
        data={
            "display_name": "長岡 花子",
            "f_x_favourite_place": "海辺",
            "v_x_favourite_place": "public",
            "v_hobbies": "private",
            "f_hobbies": "釣り",
        },
    )
    assert r.status_code == 302
    assert db.session.get(ProfileValue, (user.id, "hobbies")).visibility == "public"
    assert "海辺" in app.test_client().get("/members/alice").get_data(as_text=True)


@pytest.fixture
def second_app(app_config: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """Build another app on the test's database with changed settings; closed afterwards."""
    from app import create_app
    from tests.conftest import IsolatedClient

    made: list[Any] = []

    def _make(**changes: Any) -> Any:
        other = create_app("testing", overrides={**app_config, **changes})
        other.test_client_class = IsolatedClient
        made.append(other)
        return other

    yield _make
    for other in made:
        with other.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


def test_csrf_is_enforced_when_enabled(app: Any, second_app: Any) -> None:
    client = second_app(WTF_CSRF_ENABLED=True).test_client()
    r = client.post("/diary/new", data={"title": "t", "body": "b", "visibility": "public"})
    assert r.status_code == 400
    r = client.post("/members/alice/block")
    assert r.status_code == 400
    assert _count(Diary) == 0


def test_messages_are_rate_limited(
    app: Any, second_app: Any, make: Any, user: Any, other_user: Any
) -> None:
    client = second_app(RATELIMIT_ENABLED=True, SNS_MESSAGE_LIMIT="2 per minute").test_client()
    login = client.post("/auth/login", data={"email": user.email, "password": make.PASSWORD})
    assert login.status_code == 302
    codes = [
        client.post("/messages/with/bob", data={"body": f"m{i}"}).status_code for i in range(3)
    ]
    assert codes == [302, 302, 429]
    assert _count(Message) == 2


def test_friend_list_visibility_and_canaries(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    """The friend list follows its own level; emails and private fields appear nowhere (A24)."""
    make.friends(user, other_user)
    make.profile_value(user, "birth_year", "1948", "private")
    make.diary(user, visibility="public", title="公開")
    a = login_as(user)
    r = a.post(
        "/settings/sns",
        data={"friends_visibility": "friends", "footprints_enabled": "y", "email_kinds": []},
    )
    assert r.status_code == 302
    stranger = make.user(handle="stranger")
    s = app.test_client()
    login_as(stranger, the_client=s)
    assert s.get("/members/alice/friends").status_code == 404
    assert "千代田 太郎" not in s.get("/members/alice").get_data(as_text=True)
    b = app.test_client()
    login_as(other_user, the_client=b)
    assert b.get("/members/alice/friends").status_code == 200
    guest = app.test_client()
    for client in (guest, s, b):
        for path in (
            "/members/alice",
            "/members/alice/diary",
            "/diary",
            "/members",
            "/members/alice/diary.atom",
        ):
            text = client.get(path).get_data(as_text=True)
            assert user.email not in text and "1948" not in text, path
