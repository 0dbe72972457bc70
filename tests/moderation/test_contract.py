"""The three modules other packages build on: content registry, log, word filter."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError

from app.extensions import db
from app.i18n import LANG_COOKIE
from app.moderation import wordfilter
from app.moderation.content import ContentKind, content_kind, register_content_kind
from app.moderation.log import Action, LogIsAppendOnly, record_action
from app.moderation.models import FilterEntry, ModerationAction
from app.permissions import can_view
from app.sns.models import Comment, Diary, Report


def test_sns_kinds_are_registered(app: Any) -> None:
    assert content_kind("diary").model is Diary
    assert content_kind("comment").author_attr == "author_id"
    assert content_kind("profile").hideable is False
    with pytest.raises(KeyError):
        content_kind("nothing")


def test_register_refuses_a_hideable_model_without_hidden_columns(app: Any) -> None:
    from app.auth.models import User

    with pytest.raises(ValueError, match="hidden_at"):
        register_content_kind(
            ContentKind("bad", User, "id", "x", snapshot=str, url=str, hideable=True)
        )
    with pytest.raises(KeyError):
        content_kind("bad")


def test_record_action_appends(app: Any, make: Any, user: Any, other_user: Any) -> None:
    entry = record_action(
        user, Action.HIDE, target_kind="diary", target_id=7, member_id=other_user.id, reason=" x "
    )
    db.session.commit()
    row = db.session.get(ModerationAction, entry.id)
    assert (row.actor_id, row.action, row.target_kind, row.target_id, row.member_id) == (
        user.id,
        "hide",
        "diary",
        7,
        other_user.id,
    )
    assert row.reason == "x"
    assert row.created_at is not None
    with pytest.raises(ValueError, match="nonsense"):
        record_action(user, "nonsense")


def test_the_service_layer_refuses_changes_to_the_log(app: Any, user: Any) -> None:
    entry = record_action(user, Action.WARN, member_id=user.id, reason="first")
    db.session.commit()
    entry.reason = "rewritten"
    with pytest.raises(LogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(ModerationAction, entry.id))
    with pytest.raises(LogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(LogIsAppendOnly):
        db.session.execute(update(ModerationAction).values(reason="bulk"))
    with pytest.raises(LogIsAppendOnly):
        db.session.execute(delete(ModerationAction))
    db.session.rollback()
    assert db.session.get(ModerationAction, entry.id).reason == "first"


def test_the_database_refuses_changes_to_the_log(app: Any, user: Any) -> None:
    """Raw SQL, past the service layer: the trigger (PostgreSQL and SQLite) refuses it."""
    entry = record_action(user, Action.WARN, member_id=user.id, reason="first")
    db.session.commit()
    for statement in (
        "UPDATE moderation_actions SET reason = 'rewritten'",
        "DELETE FROM moderation_actions",
    ):
        with db.engine.connect() as conn, pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text(statement))
    db.session.expire_all()
    assert db.session.get(ModerationAction, entry.id).reason == "first"


@pytest.mark.parametrize(
    "body",
    [
        "電話は090-1234-5678までどうぞ",
        "連絡先 ０３（１２３４）５６７８ です",
        "mail: Taro.Yamada+sns@example.co.jp",
        "call 09012345678",
        "+81 90 1234 5678",
    ],
)
def test_presets_hold_phone_numbers_and_addresses(app: Any, user: Any, body: str) -> None:
    diary = Diary(author_id=user.id, title="t", body=body, visibility="members")
    db.session.add(diary)
    db.session.flush()
    assert wordfilter.screen("diary", diary, body) is True
    assert diary.hidden_at is not None and diary.hidden_reason
    db.session.commit()
    report = db.session.execute(select(Report)).scalar_one()
    assert (report.kind, report.object_id, report.reason, report.reporter_id) == (
        "diary",
        diary.id,
        "held",
        None,
    )
    logged = db.session.execute(select(ModerationAction)).scalar_one()
    assert (logged.action, logged.actor_id, logged.member_id) == ("hold", None, user.id)


@pytest.mark.parametrize(
    "body", ["2026-11-26 に集まりましょう", "会費は1,000円です", "午前10時から12時まで"]
)
def test_ordinary_text_passes(app: Any, user: Any, body: str) -> None:
    diary = Diary(author_id=user.id, title="t", body=body, visibility="members")
    db.session.add(diary)
    db.session.flush()
    assert wordfilter.screen("diary", diary, body) is False
    assert diary.hidden_at is None
    assert db.session.execute(select(Report)).first() is None


def test_words_patterns_and_switched_off_presets(app: Any, user: Any, other_user: Any) -> None:
    db.session.add_all(
        [
            FilterEntry(kind="word", value="ばか"),
            FilterEntry(kind="pattern", value=r"\bcasino\d+"),
            FilterEntry(kind="preset", value="email", active=False),
        ]
    )
    diary = Diary(author_id=user.id, title="t", body="b", visibility="members")
    db.session.add(diary)
    db.session.flush()
    assert wordfilter.find_match("ＢＡＫＡ") is None
    assert wordfilter.find_match("それはﾊﾞｶだ") is None  # katakana is not hiragana
    assert wordfilter.find_match("この ばか!") == wordfilter.Match("word", "ばか")
    assert wordfilter.find_match("visit CASINO77 now") == wordfilter.Match(
        "pattern", r"\bcasino\d+"
    )
    assert wordfilter.find_match("taro@example.jp") is None
    comment = Comment(diary_id=diary.id, author_id=other_user.id, body="ばか")
    db.session.add(comment)
    db.session.flush()
    assert wordfilter.screen("comment", comment, comment.body)
    db.session.commit()
    # Held content is invisible to others, visible to its author.
    assert can_view(other_user, comment)
    assert not can_view(user, comment)


def test_already_hidden_content_keeps_its_reason(app: Any, user: Any) -> None:
    diary = Diary(author_id=user.id, title="t", body="090-1234-5678", visibility="members")
    diary.hidden_at = diary.created_at = None
    db.session.add(diary)
    db.session.flush()
    from app.db import utcnow

    diary.hidden_at = utcnow()
    diary.hidden_reason = "moderator's words"
    assert wordfilter.screen("diary", diary, diary.body)
    assert diary.hidden_reason == "moderator's words"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("(a+)+$", "repeat"), ("(", "not a valid"), ("x" * 201, "at most"), ("  ", "enter")],
)
def test_bad_patterns_are_refused(app: Any, pattern: str, message: str) -> None:
    with (
        app.test_request_context(headers={"Cookie": f"{LANG_COOKIE}=en"}),
        pytest.raises(wordfilter.FilterError, match=message),
    ):
        wordfilter.validate_pattern(pattern)
