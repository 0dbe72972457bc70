"""What a moderation action was about, on the pages that list actions: the member's own page,
the log, the member page and the appeals. The kind is named in the reader's language (never the
internal key such as "topic_post"), and linked to the object's page only when the reader may
open it (through the visibility module): deleted content and messages are named, not linked."""

from __future__ import annotations

import re
from typing import Any

from app.db import utcnow
from app.extensions import db
from app.moderation.models import ModerationAction
from app.moderation.services import describe_targets
from app.sns.models import Diary, Message
from tests.moderation.support import client_of
from tests.sns.test_queries import count_queries


def _hide(m: Any, kind: str, oid: int, reason: str = "ガイドライン違反です") -> None:
    r = m.post(f"/moderation/content/{kind}/{oid}/hide", data={"reason": reason})
    assert r.status_code == 302


def test_the_author_sees_the_kind_linked_to_their_hidden_comment(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, login_as: Any
) -> None:
    diary = make.diary(user, visibility="members", title="公園の話")
    comment = make.comment(diary, other_user, "ひどい悪口のコメント")
    m = client_of(app, login_as, mod)
    _hide(m, "comment", comment.id)
    link = f'<a href="/diary/{diary.id}#comment-{comment.id}">'
    author = client_of(app, login_as, other_user)
    mine = author.get("/moderation/my-actions").get_data(as_text=True)
    assert f"{link}コメント</a>" in mine
    assert "comment #" not in mine and f"#{comment.id}<" not in mine
    # The moderators' pages name it with its id, linked too (moderators may see hidden content).
    log = m.get("/moderation/log").get_data(as_text=True)
    assert f"{link}コメント #{comment.id}</a>" in log
    member = m.get(f"/moderation/members/{other_user.handle}").get_data(as_text=True)
    assert f"{link}コメント #{comment.id}</a>" in member
    assert "(comment #" not in log + member
    (action_id,) = re.findall(r'id="action-(\d+)"', mine)
    assert author.post(f"/moderation/my-actions/{action_id}/appeal", data={"body": "誤解です"})
    appeals = m.get("/moderation/appeals").get_data(as_text=True)
    assert f"{link}コメント #{comment.id}</a>" in appeals


def test_in_english_the_kind_is_named_in_english(
    app: Any, make: Any, user: Any, mod: Any, login_as: Any
) -> None:
    diary = make.diary(user, visibility="public", title="お祭りの準備")
    _hide(client_of(app, login_as, mod), "diary", diary.id)
    c = client_of(app, login_as, user)
    c.get("/lang/en")
    mine = c.get("/moderation/my-actions").get_data(as_text=True)
    assert f'<a href="/diary/{diary.id}">Diary entry</a>' in mine


def test_deleted_content_is_named_not_linked(
    app: Any, make: Any, user: Any, mod: Any, login_as: Any
) -> None:
    diary = make.diary(user, visibility="members", title="消した日記")
    m = client_of(app, login_as, mod)
    _hide(m, "diary", diary.id)
    db.session.get(Diary, diary.id).deleted_at = utcnow()  # the author deleted it since
    db.session.commit()
    mine = client_of(app, login_as, user).get("/moderation/my-actions").get_data(as_text=True)
    assert "· 日記" in mine and f'href="/diary/{diary.id}"' not in mine
    log = m.get("/moderation/log").get_data(as_text=True)
    assert f"(日記 #{diary.id})" in log and f'href="/diary/{diary.id}"' not in log


def test_kinds_without_a_page_rule_are_named_not_linked(
    app: Any, make: Any, user: Any, other_user: Any
) -> None:
    # Messages have no visibility rule of their own (a thread is the pair's), so an action
    # about one can only be named; looking it up must not fail.
    message = Message(sender_id=user.id, recipient_id=other_user.id, body="しつこい勧誘")
    db.session.add(message)
    db.session.commit()
    action = ModerationAction(id=1, action="hide", target_kind="message", target_id=message.id)
    with app.test_request_context():
        (target,) = describe_targets(user, [action]).values()
    assert (str(target.label), target.target_id, target.url) == ("メッセージ", message.id, None)


def test_a_private_diary_is_linked_for_its_author_only(
    app: Any, make: Any, user: Any, mod: Any, login_as: Any
) -> None:
    diary = make.diary(user, visibility="private", title="自分だけの日記")
    m = client_of(app, login_as, mod)
    _hide(m, "diary", diary.id)
    mine = client_of(app, login_as, user).get("/moderation/my-actions").get_data(as_text=True)
    assert f'<a href="/diary/{diary.id}">日記</a>' in mine
    # A private diary stays private from moderators too: named, not linked.
    log = m.get("/moderation/log").get_data(as_text=True)
    assert f"日記 #{diary.id}" in log and f'href="/diary/{diary.id}"' not in log


def test_other_targets_are_named_in_the_readers_language(app: Any, mod: Any, login_as: Any) -> None:
    m = client_of(app, login_as, mod)
    added = m.post("/moderation/word-filter", data={"kind": "word", "value": "悪口"})
    assert added.status_code == 302
    log = m.get("/moderation/log").get_data(as_text=True)
    assert "(禁止語フィルター)" in log and "(filter" not in log


def test_the_members_page_makes_one_query_per_kind_not_per_action(
    app: Any, make: Any, user: Any, other_user: Any, mod: Any, login_as: Any
) -> None:
    m = client_of(app, login_as, mod)
    diary = make.diary(other_user, visibility="members")
    _hide(m, "diary", make.diary(user, visibility="members").id)
    _hide(m, "comment", make.comment(diary, user, "一つ目").id)
    c = client_of(app, login_as, user)
    with count_queries() as few:
        c.get("/moderation/my-actions")
    for i in range(4):
        _hide(m, "diary", make.diary(user, visibility="members").id)
        _hide(m, "comment", make.comment(diary, user, f"コメント{i}").id)
    with count_queries() as many:
        page = c.get("/moderation/my-actions").get_data(as_text=True)
    assert page.count('<li class="card" id="action-') == 10
    assert len(many) == len(few)
    with count_queries() as log_queries:
        m.get("/moderation/log")
    _hide(m, "diary", make.diary(user, visibility="members").id)
    with count_queries() as more_log_queries:
        m.get("/moderation/log")
    assert len(more_log_queries) == len(log_queries)
