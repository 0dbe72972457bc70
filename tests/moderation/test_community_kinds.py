"""Communities under moderation: their topics, replies, events and communities are registered
kinds; new and edited topics, replies and events pass the word filter; a moderator hides and
restores a reply from the queue, its reason shown to its author only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from app.community import services as community
from app.community.models import Community, Event, Topic, TopicPost
from app.db import utcnow
from app.extensions import db
from app.moderation.content import content_kind
from app.moderation.models import ModerationAction
from app.sns.models import Report
from tests.moderation.support import client_of

PHONE = "連絡は 090-1234-5678 まで"


@pytest.fixture
def town(app: Any, user: Any, other_user: Any, make: Any) -> dict[str, Any]:
    """An open community run by alice, with bob and carol as members; a topic by alice."""
    carol = make.user(handle="carol", display_name="三条 花")
    com = community.create_community(user, name="北町の会", category="地域", kind="open")
    for member in (other_user, carol):
        community.join_community(member, com)
    topic = community.create_topic(com, user, title="夏祭りの相談", body="準備の話をしましょう")
    db.session.commit()
    return {"community": com, "topic": topic, "carol": carol}


def _held(kind: str, object_id: int) -> bool:
    return (
        db.session.execute(
            select(Report.id).where(
                Report.kind == kind, Report.object_id == object_id, Report.reason == "held"
            )
        ).first()
        is not None
    )


@pytest.mark.parametrize(
    ("key", "model"),
    [("community", Community), ("topic", Topic), ("topic_post", TopicPost), ("event", Event)],
)
def test_community_kinds_are_registered_and_hideable(app: Any, key: str, model: type) -> None:
    kind = content_kind(key)
    assert kind.model is model and kind.hideable


def test_topics_replies_and_events_pass_the_word_filter_on_create_and_edit(
    app: Any, user: Any, other_user: Any, town: dict[str, Any]
) -> None:
    com, topic = town["community"], town["topic"]
    held_topic = community.create_topic(com, other_user, title="売ります", body=PHONE)
    post = community.add_post(topic, other_user, "参加します")
    held_post = community.add_post(topic, other_user, PHONE)
    starts = utcnow() + dt.timedelta(days=5)
    event = community.create_event(com, user, title="清掃活動", starts_at=starts, place="公民館")
    held_event = community.create_event(
        com, user, title="朝市", starts_at=starts, place="駅前", body=PHONE
    )
    db.session.flush()
    for obj, key in ((held_topic, "topic"), (held_post, "topic_post"), (held_event, "event")):
        assert obj.hidden_at is not None and _held(key, obj.id), key
    for obj, key in ((topic, "topic"), (post, "topic_post"), (event, "event")):
        assert obj.hidden_at is None and not _held(key, obj.id), key
    # Edits are screened too.
    community.edit_topic(topic, user, title="夏祭りの相談", body=PHONE)
    community.edit_post(post, other_user, PHONE)
    community.edit_event(
        event, user, title="清掃活動", body=PHONE, place="公民館", starts_at=starts
    )
    db.session.flush()
    for obj, key in ((topic, "topic"), (post, "topic_post"), (event, "event")):
        assert obj.hidden_at is not None and _held(key, obj.id), key
    holds = db.session.execute(
        select(ModerationAction.target_kind).where(ModerationAction.action == "hold")
    ).scalars()
    assert sorted(holds) == sorted(["topic", "topic_post", "event"] * 2)


def test_hide_and_restore_a_topic_post_from_the_queue(
    app: Any, user: Any, other_user: Any, mod: Any, town: dict[str, Any], login_as: Any
) -> None:
    topic, carol = town["topic"], town["carol"]
    post = community.add_post(topic, other_user, "あの店主は詐欺師だ、誰も行くな")
    db.session.commit()
    path = f"/topics/{topic.id}"
    reporter = client_of(app, login_as, carol)
    r = reporter.post(f"/report/topic_post/{post.id}", data={"reason": "harassment"})
    assert r.status_code == 302
    m = client_of(app, login_as, mod)
    queue = m.get("/moderation/reports").get_data(as_text=True)
    assert "あの店主は詐欺師だ" in queue
    report = db.session.execute(select(Report)).scalar_one()
    detail = m.get(f"/moderation/reports/{report.id}").get_data(as_text=True)
    assert f"{path}#post-{post.id}" in detail  # the reply in context
    hide = f"/moderation/content/topic_post/{post.id}/hide"
    assert f'action="{hide}"' in detail
    r = m.post(hide, data={"reason": "人ではなく店を批判してください"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Report, report.id).status == "resolved"
    author = client_of(app, login_as, other_user)
    shown = author.get(path).get_data(as_text=True)
    assert "あの店主は詐欺師だ" in shown and "人ではなく店を批判してください" in shown
    assert "人ではなく店を批判してください" in author.get("/moderation/my-actions").get_data(
        as_text=True
    )
    for viewer in (reporter, client_of(app, login_as, user)):  # the reporter, the topic's author
        body = viewer.get(path).get_data(as_text=True)
        assert "あの店主は詐欺師だ" not in body and "人ではなく店を批判してください" not in body
    entry = db.session.execute(
        select(ModerationAction).where(ModerationAction.action == "hide")
    ).scalar_one()
    assert (entry.target_kind, entry.target_id, entry.member_id) == (
        "topic_post",
        post.id,
        other_user.id,
    )
    # Restored (from the member's page, where it is listed): everyone sees it again.
    member_page = m.get("/moderation/members/bob").get_data(as_text=True)
    restore = f"/moderation/content/topic_post/{post.id}/restore"
    assert f'action="{restore}"' in member_page
    assert m.post(restore, data={"reason": "確認しました"}).status_code == 302
    assert "あの店主は詐欺師だ" in reporter.get(path).get_data(as_text=True)


def test_a_community_awaiting_approval_is_approved_not_restored(
    app: Any, user: Any, mod: Any, login_as: Any
) -> None:
    community.set_require_approval(mod, True)
    com = community.create_community(user, name="承認待ちの会", category="地域", kind="open")
    db.session.commit()
    assert com.status == "pending" and com.hidden_at is not None
    m = client_of(app, login_as, mod)
    page = m.get("/moderation/members/alice").get_data(as_text=True)
    restore = f"/moderation/content/community/{com.id}/restore"
    assert "承認待ちの会" in page and f'action="{restore}"' not in page
    m.post(restore, data={"reason": ""})
    db.session.expire_all()
    row = db.session.get(Community, com.id)
    assert row.status == "pending" and row.hidden_at is not None
