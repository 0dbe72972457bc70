"""Moderation through the pages: role boundaries, hide/restore, warnings, suspensions, appeals,
invitations, the dashboard and the word filter on SNS diaries and comments."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from app.auth.models import Invitation, RoleCode
from app.extensions import db
from app.moderation.models import Appeal, FilterEntry, MemberWarning, ModerationAction
from app.sns.models import Comment, Diary, Report
from tests.moderation.support import client_of
from tests.sns.test_queries import count_queries

MOD_PAGES = [
    "/moderation/",
    "/moderation/reports",
    "/moderation/log",
    "/moderation/appeals",
    "/moderation/invitations",
    "/moderation/word-filter",
    "/moderation/members/alice",
]


def _count(model: Any) -> int:
    db.session.rollback()
    return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_member_cannot_moderate(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    diary = make.diary(other_user, visibility="members")
    c = login_as(user)
    for page in MOD_PAGES:
        assert c.get(page).status_code == 404, page
    assert (
        c.post(f"/moderation/content/diary/{diary.id}/hide", data={"reason": "x"}).status_code
        == 404
    )
    assert c.post("/moderation/members/bob/suspend", data={"s-days": "3"}).status_code == 404
    assert c.post("/moderation/members/bob/warn", data={"w-message": "x"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Diary, diary.id).hidden_at is None
    assert _count(ModerationAction) == 0
    guest = app.test_client()
    assert guest.get("/moderation/reports").status_code == 302  # to the login page


def test_report_hide_author_sees_reason_others_do_not(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, login_as: Any
) -> None:
    diary = make.diary(user, visibility="members", title="公園の話")
    comment = make.comment(diary, other_user, "ひどい悪口のコメント")
    third = make.user(handle="carol")
    a = client_of(app, login_as, user)
    assert a.post(f"/report/comment/{comment.id}", data={"reason": "harassment"}).status_code == 302
    m = client_of(app, login_as, mod)
    queue = m.get("/moderation/reports").get_data(as_text=True)
    assert "ひどい悪口のコメント" in queue and "/moderation/reports/" in queue
    report = db.session.execute(select(Report)).scalar_one()
    page = m.get(f"/moderation/reports/{report.id}").get_data(as_text=True)
    assert f"/diary/{diary.id}#comment-{comment.id}" in page  # the content in context
    r = m.post(f"/moderation/content/comment/{comment.id}/hide", data={"reason": ""})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Comment, comment.id).hidden_at is None  # a reason is required
    r = m.post(
        f"/moderation/content/comment/{comment.id}/hide", data={"reason": "ガイドライン違反です"}
    )
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Report, report.id).status == "resolved"
    author = client_of(app, login_as, other_user)
    shown = author.get(f"/diary/{diary.id}").get_data(as_text=True)
    assert "ひどい悪口のコメント" in shown and "ガイドライン違反です" in shown
    for viewer in (a, client_of(app, login_as, third)):
        body = viewer.get(f"/diary/{diary.id}").get_data(as_text=True)
        assert "ひどい悪口のコメント" not in body and "ガイドライン違反です" not in body
    logged = db.session.execute(select(ModerationAction)).scalar_one()
    assert (logged.actor_id, logged.action, logged.member_id) == (mod.id, "hide", other_user.id)
    assert logged.reason == "ガイドライン違反です"
    # The moderators' log shows who, what and why.
    log_page = m.get("/moderation/log").get_data(as_text=True)
    assert "NPO 職員" in log_page and "ガイドライン違反です" in log_page
    # The author sees the action and replies once.
    mine = author.get("/moderation/my-actions").get_data(as_text=True)
    assert "ガイドライン違反です" in mine
    assert "ガイドライン違反です" not in a.get("/moderation/my-actions").get_data(as_text=True)
    url = f"/moderation/my-actions/{logged.id}/appeal"
    assert a.post(url, data={"body": "他人の異議"}).status_code == 404
    assert author.post(url, data={"body": "誤解です"}).status_code == 302
    assert author.post(url, data={"body": "二回目"}).status_code == 302
    assert _count(Appeal) == 1
    appeals = m.get("/moderation/appeals").get_data(as_text=True)
    assert "誤解です" in appeals and "二回目" not in appeals
    # Restore: visible to others again.
    r = m.post(f"/moderation/content/comment/{comment.id}/restore", data={"reason": "再確認"})
    assert r.status_code == 302
    assert "ひどい悪口のコメント" in a.get(f"/diary/{diary.id}").get_data(as_text=True)


def test_dismiss_closes_a_report_and_is_logged(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, login_as: Any
) -> None:
    diary = make.diary(other_user, visibility="members")
    login_as(user).post(f"/report/diary/{diary.id}", data={"reason": "spam"})
    report = db.session.execute(select(Report)).scalar_one()
    m = client_of(app, login_as, mod)
    assert m.post(f"/moderation/reports/{report.id}/dismiss", data={"reason": "問題なし"})
    db.session.expire_all()
    assert db.session.get(Report, report.id).status == "dismissed"
    assert db.session.get(Diary, diary.id).hidden_at is None
    entry = db.session.execute(select(ModerationAction)).scalar_one()
    assert (entry.action, entry.target_kind, entry.target_id) == ("dismiss", "report", report.id)
    assert "問題なし" not in m.get("/moderation/reports").get_data(as_text=True)


def test_queue_orders_by_severity_then_age_with_prior_actions(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, login_as: Any
) -> None:
    d1 = make.diary(other_user, visibility="members", title="宣伝その一")
    d2 = make.diary(other_user, visibility="members", title="個人情報その二")
    a = login_as(user)
    a.post(f"/report/diary/{d1.id}", data={"reason": "spam"})
    a.post(f"/report/diary/{d2.id}", data={"reason": "personal_info"})
    m = client_of(app, login_as, mod)
    m.post("/moderation/members/bob/warn", data={"w-message": "以前の警告です"})
    page = m.get("/moderation/reports").get_data(as_text=True)
    assert page.index("個人情報その二") < page.index("宣伝その一")
    assert "1" in re.findall(r"\((\d+) ", page) or "1 件" in page or "(1 " in page
    report = db.session.execute(select(Report).where(Report.object_id == d1.id)).scalar_one()
    assert "以前の警告です" in m.get(f"/moderation/reports/{report.id}").get_data(as_text=True)


def test_warning_must_be_acknowledged(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, login_as: Any
) -> None:
    b = client_of(app, login_as, other_user)  # logged in before the warning
    m = client_of(app, login_as, mod)
    assert m.post("/moderation/members/bob/warn", data={"w-message": ""}).status_code == 400
    assert (
        m.post("/moderation/members/bob/warn", data={"w-message": "言葉遣いに注意"}).status_code
        == 302
    )
    r = b.get("/diary")
    assert r.status_code == 302 and r.headers["Location"].endswith("/moderation/warning")
    fresh = client_of(app, login_as, other_user)  # a new login is stopped too
    assert fresh.get("/members").headers["Location"].endswith("/moderation/warning")
    assert "言葉遣いに注意" in b.get("/moderation/warning").get_data(as_text=True)
    warning = db.session.execute(select(MemberWarning)).scalar_one()
    other = client_of(app, login_as, user)
    assert other.post("/moderation/warning", data={"warning_id": warning.id}).status_code == 404
    assert b.post("/moderation/warning", data={"warning_id": warning.id}).status_code == 302
    assert b.get("/diary").status_code == 200
    assert fresh.get("/diary").status_code == 302  # its own session still holds the flag …
    assert fresh.get("/moderation/warning").status_code == 302  # … until it looks again
    assert fresh.get("/diary").status_code == 200


def test_suspended_member_cannot_log_in_and_their_content_vanishes(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, login_as: Any, client: Any
) -> None:
    diary = make.diary(other_user, visibility="members", title="停止される人の日記")
    a = client_of(app, login_as, user)
    assert a.get(f"/diary/{diary.id}").status_code == 200
    m = client_of(app, login_as, mod)
    bad = m.post("/moderation/members/bob/suspend", data={"s-days": "0", "s-reason": "x"})
    assert bad.status_code == 400
    r = m.post("/moderation/members/bob/suspend", data={"s-days": "7", "s-reason": "荒らし行為"})
    assert r.status_code == 302
    r = client.post(
        "/auth/login", data={"email": other_user.email, "password": "correct horse battery staple"}
    )
    assert r.status_code != 302  # refused: the login form again, with the reason
    assert a.get(f"/diary/{diary.id}").status_code == 404
    assert "停止される人の日記" in m.get(f"/diary/{diary.id}").get_data(as_text=True)
    assert m.post("/moderation/members/bob/lift", data={"reason": "解除"}).status_code == 302
    assert a.get(f"/diary/{diary.id}").status_code == 200
    actions = [row.action for row in db.session.execute(select(ModerationAction)).scalars()]
    assert actions == ["suspend", "lift_suspension"]


def test_moderators_cannot_suspend_themselves_or_each_other(
    app: Any, make: Any, mod: Any, admin: Any, login_as: Any
) -> None:
    make.user(handle="mod2", role=RoleCode.MODERATOR)
    m = client_of(app, login_as, mod)
    data = {"s-days": "3", "s-reason": "x"}
    assert m.post("/moderation/members/npo_mod/suspend", data=data).status_code == 400
    assert m.post("/moderation/members/mod2/suspend", data=data).status_code == 400
    assert _count(ModerationAction) == 0
    boss = client_of(app, login_as, admin)
    assert boss.post("/moderation/members/mod2/suspend", data=data).status_code == 302


def test_word_filter_holds_diaries_and_comments_until_approved(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, login_as: Any
) -> None:
    a = client_of(app, login_as, user)
    r = a.post(
        "/diary/new",
        data={
            "title": "連絡先",
            "body": "電話 090-1234-5678 まで",
            "visibility": "members",
            "allow_comments": "y",
        },
    )
    assert r.status_code == 302
    diary = db.session.execute(select(Diary)).scalar_one()
    assert diary.hidden_at is not None
    b = client_of(app, login_as, other_user)
    assert b.get(f"/diary/{diary.id}").status_code == 404
    assert "モデレーター" in a.get(f"/diary/{diary.id}").get_data(as_text=True)
    m = client_of(app, login_as, mod)
    assert (
        m.post("/moderation/word-filter", data={"kind": "pattern", "value": "(a+)+"}).status_code
        == 200
    )
    assert (
        m.post("/moderation/word-filter", data={"kind": "word", "value": "ＢＡＤ"}).status_code
        == 302
    )
    assert db.session.execute(select(FilterEntry.value)).scalar_one() == "bad"
    queue = m.get("/moderation/reports").get_data(as_text=True)
    assert "090-1234-5678" in queue
    assert m.post(f"/moderation/content/diary/{diary.id}/approve", data={}).status_code == 302
    assert b.get(f"/diary/{diary.id}").status_code == 200
    assert b.post(f"/diary/{diary.id}/comments", data={"body": "this is bad"}).status_code == 302
    comment = db.session.execute(select(Comment)).scalar_one()
    assert comment.hidden_at is not None
    assert "this is bad" not in a.get(f"/diary/{diary.id}").get_data(as_text=True)
    assert "this is bad" in b.get(f"/diary/{diary.id}").get_data(as_text=True)
    r = m.post("/moderation/word-filter/presets/phone/off", data={})
    assert r.status_code == 302
    a.post("/diary/new", data={"title": "t", "body": "03-1234-5678", "visibility": "members"})
    newest = db.session.execute(select(Diary).order_by(Diary.id.desc())).scalars().first()
    assert newest.hidden_at is None


def test_invitations_oversight(app: Any, make: Any, user: Any, mod: Any, login_as: Any) -> None:
    issued = make.invitation(user, email="friend@example.jp")
    m = client_of(app, login_as, mod)
    page = m.get("/moderation/invitations").get_data(as_text=True)
    assert "friend@example.jp" in page and "長岡 花子" in page
    assert (
        m.post("/moderation/invitations", data={"handle": "alice", "quota": "9"}).status_code == 302
    )
    r = m.post(f"/moderation/invitations/{issued.invitation.id}/revoke", data={"reason": "誤送信"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Invitation, issued.invitation.id).revoked_at is not None
    assert db.session.get(type(user), user.id).invite_quota == 9
    again = m.post(f"/moderation/invitations/{issued.invitation.id}/revoke", data={})
    assert again.status_code == 302
    actions = sorted(row.action for row in db.session.execute(select(ModerationAction)).scalars())
    assert actions == ["invite_quota", "invite_revoke"]


def test_dashboard_chart_is_accessible_and_queries_stay_constant(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, login_as: Any
) -> None:
    from app.moderation import hooks

    hooks.register_pending_count("test_pending", "Waiting things", lambda: 4)
    try:
        make.diary(user, visibility="members")
        m = client_of(app, login_as, mod)
        with count_queries() as few:
            page = m.get("/moderation/").get_data(as_text=True)
        for _ in range(5):
            make.diary(other_user, visibility="members")
        with count_queries() as many:
            page = m.get("/moderation/").get_data(as_text=True)
        assert len(many) == len(few)
        assert '<svg class="chart" role="img" aria-labelledby="chart-title chart-desc"' in page
        assert '<title id="chart-title">' in page and "<caption>" in page
        assert "Waiting things" in page and ">4<" in page
        totals = re.findall(r"<td>(\d+)</td></tr>", page)
        assert totals[-1] == "6"
    finally:
        hooks._counts.pop("test_pending", None)


def test_reporting_an_unknown_kind_or_hidden_object_is_404(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    diary = make.diary(other_user, visibility="private")
    a = login_as(user)
    assert a.get("/report/nothing/1").status_code == 404
    assert a.get(f"/report/diary/{diary.id}").status_code == 404
    assert _count(Report) == 0
