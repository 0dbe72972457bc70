"""Demo data: a live queue for the demo town's moderators — two members' reports (Japanese
reasons), one post held by the word filter and one warned member — made through the same
services the pages use. Idempotent: a second run finds its posts and changes nothing."""

from __future__ import annotations

from sqlalchemy import select

from app.auth.models import User
from app.extensions import db
from app.sns.models import Diary

# (author, title, body) of the demo's reported and held diaries; the titles mark them.
REPORTED_DIARY = (
    "kenji",
    "格安で不用品買い取ります",
    "家の片付けで出た不用品、なんでも高く買い取ります！詳しくはホームページを見てください。",
)
COMMENTED_DIARY = (
    "takeshi",
    "北町の夏祭りの準備",
    "今年も夏祭りの準備が始まりました。手伝える方は声をかけてください。",
)
REPORTED_COMMENT = ("daiki", "こんな祭り、毎年うるさいだけ。やる人の気が知れない。")
HELD_DIARY = (
    "mai",
    "子ども服ゆずります",
    "サイズ100〜110の子ども服をゆずります。ほしい方は 090-1234-5678 まで電話ください。",
)
REPORTS = [
    # (reporter, reason, details) for the diary, then for the comment
    ("yoko", "spam", "お店の宣伝だと思います。同じ内容を何度も書いています。"),
    ("haruka", "harassment", "準備をしている人たちを悪く言っていて、読んでいてつらいです。"),
]
WARNING = (
    "daiki",
    "他の方の活動を悪く言うコメントが続いています。コミュニティの約束を読み、"
    "ていねいな言葉を心がけてください。",
)


def _diary(author: User, title: str) -> Diary | None:
    return db.session.execute(
        select(Diary).where(Diary.author_id == author.id, Diary.title == title)
    ).scalar_one_or_none()


def build_moderation_demo(members: dict[str, User]) -> None:
    from app.moderation.services import warn_member
    from app.permissions import is_moderator
    from app.sns.services import add_comment, create_diary, create_report

    moderator = next((u for u in members.values() if is_moderator(u)), None)
    needed = {REPORTED_DIARY[0], COMMENTED_DIARY[0], REPORTED_COMMENT[0], HELD_DIARY[0]}
    needed |= {r[0] for r in REPORTS} | {WARNING[0]}
    if moderator is None or not needed <= members.keys():
        return
    if _diary(members[REPORTED_DIARY[0]], REPORTED_DIARY[1]) is not None:
        return  # built before
    author, title, body = REPORTED_DIARY
    spam = create_diary(members[author], title=title, body=body, visibility="members")
    author, title, body = COMMENTED_DIARY
    festival = create_diary(members[author], title=title, body=body, visibility="members")
    comment = add_comment(festival, members[REPORTED_COMMENT[0]], REPORTED_COMMENT[1])
    for (reporter, reason, details), (kind, oid) in zip(
        REPORTS, [("diary", spam.id), ("comment", comment.id)], strict=True
    ):
        create_report(members[reporter], kind, oid, reason, details)
    author, title, body = HELD_DIARY
    create_diary(members[author], title=title, body=body, visibility="members")  # held
    handle, message = WARNING
    warn_member(moderator, members[handle], message)
    db.session.flush()


def register_sample_hooks() -> None:
    """Add the demo step (idempotent)."""
    from app.sample import demo

    if build_moderation_demo not in demo.DEMO_STEPS:
        demo.DEMO_STEPS.append(build_moderation_demo)
