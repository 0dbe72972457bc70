"""Members reach the moderators' actions on their posts from their own navigation (settings
page, a notification per action), and moderators restore hidden content from a member's page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.moderation.models import MemberWarning, ModerationAction
from app.sns.models import Comment, Diary, Notification
from tests.moderation.support import client_of
from tests.sns.test_queries import count_queries


def _notes(member: Any) -> list[Notification]:
    db.session.rollback()
    return list(
        db.session.execute(
            select(Notification).where(Notification.user_id == member.id).order_by(Notification.id)
        ).scalars()
    )


def test_settings_page_links_to_my_actions(app: Any, user: Any, login_as: Any) -> None:
    page = login_as(user).get("/settings/sns").get_data(as_text=True)
    assert 'href="/moderation/my-actions"' in page


def test_each_action_on_a_member_notifies_them_without_naming_the_moderator(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, login_as: Any
) -> None:
    diary = make.diary(other_user, visibility="members", title="対象の日記")
    m = client_of(app, login_as, mod)
    m.post(f"/moderation/content/diary/{diary.id}/hide", data={"reason": "規約違反のため"})
    m.post(f"/moderation/content/diary/{diary.id}/restore", data={"reason": "確認しました"})
    m.post("/moderation/members/bob/suspend", data={"s-days": "3", "s-reason": "荒らし"})
    m.post("/moderation/members/bob/lift", data={"reason": "解除"})
    m.post("/moderation/members/bob/warn", data={"w-message": "注意してください"})
    actions = list(
        db.session.execute(select(ModerationAction).order_by(ModerationAction.id)).scalars()
    )
    assert [a.action for a in actions] == ["hide", "restore", "suspend", "lift_suspension", "warn"]
    notes = _notes(other_user)
    assert [(n.kind, n.object_id, n.actor_id) for n in notes] == [
        ("moderation", a.id, None) for a in actions
    ]
    assert _notes(user) == [] and _notes(mod) == []
    b = client_of(app, login_as, other_user)
    warning = db.session.execute(select(MemberWarning)).scalar_one()
    b.post("/moderation/warning", data={"warning_id": warning.id})  # acknowledged first
    page = b.get("/notifications").get_data(as_text=True)
    assert f'href="/moderation/my-actions#action-{actions[0].id}"' in page
    assert "運営者があなたの投稿またはアカウントに対応しました" in page
    assert "NPO 職員" not in page
    mine = b.get("/moderation/my-actions").get_data(as_text=True)
    assert f'id="action-{actions[0].id}"' in mine and "規約違反のため" in mine


def test_a_notification_never_shows_another_members_action(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any
) -> None:
    from app.moderation.services import own_action_ids
    from app.sns.services import notifications_for

    diary = make.diary(other_user, visibility="members")
    with app.test_request_context("/"):
        from app.moderation import services
        from app.moderation.content import content_kind

        m_entry = services.hide_content(mod, content_kind("diary"), diary, "理由")
        db.session.commit()
        assert own_action_ids(other_user, {m_entry.id}) == {m_entry.id}
        assert own_action_ids(user, {m_entry.id}) == set()
        # A notification row pointing at someone else's action is left out of the list.
        db.session.add(Notification(user_id=user.id, kind="moderation", object_id=m_entry.id))
        db.session.commit()
        assert notifications_for(user) == []
        assert [n.object_id for n in notifications_for(other_user)] == [m_entry.id]


def test_moderator_restores_hidden_content_from_the_member_page(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, login_as: Any
) -> None:
    diary = make.diary(other_user, visibility="members", title="隠された日記")
    comment = make.comment(make.diary(user, visibility="members"), other_user, "隠されたコメント")
    kept = make.diary(other_user, visibility="members", title="普通の日記")
    m = client_of(app, login_as, mod)
    m.post(f"/moderation/content/diary/{diary.id}/hide", data={"reason": "理由その一"})
    m.post(f"/moderation/content/comment/{comment.id}/hide", data={"reason": "理由その二"})
    page = m.get("/moderation/members/bob").get_data(as_text=True)
    assert "隠された日記" in page and "隠されたコメント" in page and "普通の日記" not in page
    assert "理由その一" in page and "理由その二" in page
    restore = f"/moderation/content/diary/{diary.id}/restore"
    assert f'action="{restore}"' in page
    r = m.post(restore, data={"reason": "", "next": "/moderation/members/bob"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/moderation/members/bob")
    db.session.expire_all()
    assert db.session.get(Diary, diary.id).hidden_at is None
    assert db.session.get(Comment, comment.id).hidden_at is not None
    assert db.session.get(Diary, kept.id).hidden_at is None
    page = m.get("/moderation/members/bob").get_data(as_text=True)
    assert "隠された日記" not in page and f'action="{restore}"' not in page  # restored
    assert "隠されたコメント" in page
    # A member cannot restore, even their own content.
    b = client_of(app, login_as, other_user)
    url = f"/moderation/content/comment/{comment.id}/restore"
    assert b.post(url, data={"reason": ""}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Comment, comment.id).hidden_at is not None


def test_member_page_queries_stay_constant(
    app: Any, make: Any, other_user: Any, mod: Any, login_as: Any
) -> None:
    m = client_of(app, login_as, mod)

    def hide_one(n: int) -> None:
        d = make.diary(other_user, visibility="members", title=f"日記{n}")
        m.post(f"/moderation/content/diary/{d.id}/hide", data={"reason": f"理由{n}"})

    hide_one(0)
    with count_queries() as few:
        assert m.get("/moderation/members/bob").status_code == 200
    for n in range(1, 6):
        hide_one(n)
    with count_queries() as many:
        assert m.get("/moderation/members/bob").status_code == 200
    assert len(many) == len(few)


def test_the_notification_comes_by_email_now_or_in_the_digest(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, outbox: Any
) -> None:
    from app.moderation import services
    from app.moderation.content import content_kind
    from app.sns import services as sns

    prefs = sns.ensure_settings(other_user)
    prefs.email_kinds = "moderation"
    db.session.commit()
    diary = make.diary(other_user, visibility="members")
    with app.test_request_context("/"):
        entry = services.hide_content(mod, content_kind("diary"), diary, "理由")
        db.session.commit()
    mails = outbox()
    assert len(mails) == 1 and mails[0].to_addr == other_user.email
    assert f"/moderation/my-actions#action-{entry.id}" in mails[0].body
    assert "NPO 職員" not in mails[0].body
    # In the daily digest it is named by its own sentence.
    prefs = sns.ensure_settings(user)
    prefs.email_kinds = "moderation"
    prefs.email_digest = True
    db.session.commit()
    mine = make.diary(user, visibility="members")
    with app.test_request_context("/"):
        services.hide_content(mod, content_kind("diary"), mine, "理由")
        db.session.commit()
    assert len(outbox()) == 1
    result = app.test_cli_runner().invoke(args=["sns", "digest"])
    assert result.exit_code == 0 and '"digests": 1' in result.output
    digest = outbox()[-1]
    assert digest.kind == "sns_digest" and "/moderation/my-actions#action-" in digest.body
    assert "運営者があなたの投稿またはアカウントに対応しました" in digest.body
