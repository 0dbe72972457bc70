"""`flask sample demo` gives the demo town's moderators a live queue (and leaves the SNS demo's
diaries as they were: it comments on one of them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.auth.models import User
from app.extensions import db
from app.moderation.models import MemberWarning, ModerationAction
from app.sns.models import Comment, Diary, Report
from tests.second_factor_support import log_in


def _counts() -> tuple[int, ...]:
    db.session.rollback()
    return tuple(
        int(db.session.execute(select(func.count()).select_from(model)).scalar_one())
        for model in (Report, MemberWarning, ModerationAction, Diary, Comment)
    )


def _login(app: Any, handle: str) -> Any:
    c = app.test_client()
    user = db.session.execute(select(User).where(User.handle == handle)).scalar_one()
    r = log_in(c, user, "midori-demo-2026")  # the demo moderator enrols an authenticator (A08)
    assert r.status_code == 302
    return c


def test_demo_fills_the_queue_once(app: Any) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["sample", "demo"])
    assert first.exit_code == 0, first.output
    db.session.rollback()
    reports = list(
        db.session.execute(
            select(Report).where(Report.status == "open").order_by(Report.id)
        ).scalars()
    )
    member_reports = [r for r in reports if r.reporter_id is not None]
    assert {r.reason for r in member_reports} >= {"spam", "harassment"}
    assert all(r.details and not r.details.isascii() for r in member_reports)
    held = [r for r in reports if r.reason == "held"]
    assert len(held) == 1
    assert held[0].kind == "comment"
    held_comment = db.session.get(Comment, held[0].object_id)
    assert held_comment is not None and held_comment.hidden_at is not None
    daiki = db.session.execute(select(User).where(User.handle == "daiki")).scalar_one()
    warning = db.session.execute(select(MemberWarning)).scalar_one()
    assert warning.member_id == daiki.id and warning.acknowledged_at is None

    counts = _counts()
    assert counts[3] == 300  # the SNS demo's diaries, no more
    again = runner.invoke(args=["sample", "demo"])
    assert again.exit_code == 0, again.output
    assert _counts() == counts

    moderator = _login(app, "npo_sato")
    queue = moderator.get("/moderation/reports").get_data(as_text=True)
    assert "なんでも高く買い取ります" in queue and "090-1234-5678" in queue
    assert "くだらないだけ" in queue
    # The held post is not shown to other members; the warned member meets the warning first.
    other = _login(app, "yoko")
    page = other.get(f"/diary/{held_comment.diary_id}").get_data(as_text=True)
    assert "なんでも高く買い取ります" in page and "090-1234-5678" not in page
    warned = _login(app, "daiki")
    assert warned.get("/").headers["Location"].endswith("/moderation/warning")
