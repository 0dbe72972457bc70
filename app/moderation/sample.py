"""Demo data: a live queue for the demo town's moderators — two members' reports (Japanese
reasons), one comment held by the word filter and one warned member — made through the same
services the pages use, as comments on a diary of the SNS demo (which keeps its own counts).
Idempotent: a second run finds its comments and changes nothing."""

from __future__ import annotations

from sqlalchemy import select

from app.auth.models import User
from app.extensions import db
from app.sns.models import Comment, Diary

# (author, body) of the comments; the first one marks that the step has run.
SPAM = (
    "kenji",
    "家の片付けで出た不用品、なんでも高く買い取ります！詳しくはホームページを見てください。",
)
HARASSMENT = ("daiki", "こんな話、くだらないだけ。書く人の気が知れない。")
HELD = ("mai", "子ども服をゆずります。ほしい方は 090-1234-5678 まで電話ください。")
REPORTS = [
    # (reporter, reason, details) for SPAM, then for HARASSMENT
    ("yoko", "spam", "お店の宣伝だと思います。同じ内容を何度も書いています。"),
    ("haruka", "harassment", "書いた人を悪く言っていて、読んでいてつらいです。"),
]
WARNING = (
    "daiki",
    "他の方の書き込みを悪く言うコメントが続いています。コミュニティの約束を読み、"
    "ていねいな言葉を心がけてください。",
)
# The diary commented on is by one of these residents (none of them takes part above).
DIARY_AUTHORS = ["takeshi", "sachiko", "hiroshi", "tomoko", "shigeru", "akira", "emi"]


def _done(members: dict[str, User]) -> bool:
    author, body = SPAM
    found = db.session.execute(
        select(Comment.id).where(Comment.author_id == members[author].id, Comment.body == body)
    ).first()
    return found is not None


def _diary(members: dict[str, User]) -> Diary | None:
    """A diary of the SNS demo that every member can read and comment on."""
    authors = [members[h].id for h in DIARY_AUTHORS if h in members]
    return db.session.execute(
        select(Diary)
        .where(
            Diary.author_id.in_(authors),
            Diary.visibility.in_(["members", "public"]),
            Diary.allow_comments.is_(True),
            Diary.hidden_at.is_(None),
            Diary.deleted_at.is_(None),
        )
        .order_by(Diary.id)
        .limit(1)
    ).scalar_one_or_none()


def build_moderation_demo(members: dict[str, User]) -> None:
    from app.moderation.services import warn_member
    from app.permissions import is_moderator
    from app.sns.services import add_comment, create_report

    moderator = next((u for u in members.values() if is_moderator(u)), None)
    needed = {SPAM[0], HARASSMENT[0], HELD[0], WARNING[0]} | {r[0] for r in REPORTS}
    if moderator is None or not needed <= members.keys() or _done(members):
        return
    diary = _diary(members)
    if diary is None:  # the SNS demo did not run
        return
    comments = [add_comment(diary, members[author], body) for author, body in (SPAM, HARASSMENT)]
    for (reporter, reason, details), comment in zip(REPORTS, comments, strict=True):
        create_report(members[reporter], "comment", comment.id, reason, details)
    add_comment(diary, members[HELD[0]], HELD[1])  # held by the phone-number preset
    handle, message = WARNING
    warn_member(moderator, members[handle], message)
    db.session.flush()


def register_sample_hooks() -> None:
    """Add the demo step (idempotent)."""
    from app.sample import demo

    if build_moderation_demo not in demo.DEMO_STEPS:
        demo.DEMO_STEPS.append(build_moderation_demo)
