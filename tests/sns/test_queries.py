"""Query counts per page stay constant however many items a page shows (never timings)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from app.extensions import db
from app.sns import services
from app.sns.models import Diary, Friendship


@contextmanager
def count_queries() -> Iterator[list[str]]:
    statements: list[str] = []
    engine = db.engine

    def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", _before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _before)


def _bulk(author_ids: list[int], n: int, level: str = "friends") -> None:
    db.session.add_all(
        Diary(author_id=author_ids[i % len(author_ids)], title=f"t{i}", body="b", visibility=level)
        for i in range(n)
    )
    db.session.commit()


def _friends(me: Any, make: Any, n: int) -> list[int]:
    ids = []
    for i in range(n):
        friend = make.user(handle=f"qf{i}_{me.id}")
        ids.append(friend.id)
        db.session.add_all(
            [
                Friendship(user_id=me.id, friend_id=friend.id),
                Friendship(user_id=friend.id, friend_id=me.id),
            ]
        )
    db.session.commit()
    return ids


def test_timeline_service_constant_queries(app: Any, make: Any, user: Any) -> None:
    ids = _friends(user, make, 3)
    _bulk(ids, 5)
    db.session.expire_all()
    with count_queries() as small:
        page = services.timeline(user)
    assert len(page.items) == 5
    _bulk(ids, 60)
    db.session.expire_all()
    with count_queries() as big:
        page = services.timeline(user)
    assert len(page.items) == 50 and page.next_cursor
    # viewer + roles (expired above), diaries with authors, authors' roles, visible comment
    # counts, visible avatars, first photos, the visit marker; and the registered timeline
    # entry sources: the communities' topics and replies (one query each).
    assert len(big) == len(small) <= 10, big


def test_timeline_page_constant_queries(app: Any, make: Any, user: Any, login_as: Any) -> None:
    ids = _friends(user, make, 3)
    client = login_as(user)
    _bulk(ids, 5)
    client.get("/timeline")  # the first visit writes the visit marker
    with count_queries() as small:
        assert client.get("/timeline").status_code == 200
    _bulk(ids, 60)
    with count_queries() as big:
        r = client.get("/timeline")
    assert r.status_code == 200
    assert r.get_data(as_text=True).count('class="card diary-card') == 50
    # 12 before the two community entry queries, and one more for the role stamp (A16)
    assert len(big) == len(small) <= 15, big


def test_diary_and_profile_pages_constant_queries(
    app: Any, make: Any, user: Any, other_user: Any, login_as: Any
) -> None:
    diary = make.diary(user, visibility="members")
    client = login_as(other_user)
    client.get(f"/members/{user.handle}")  # leaves the footprint once
    make.comment(diary, make.user(handle="cm_first"), "最初のコメント")
    with count_queries() as few:
        assert client.get(f"/diary/{diary.id}").status_code == 200
    for i in range(19):
        make.comment(diary, make.user(handle=f"cm{i}"), f"コメント{i}")
    with count_queries() as many:
        page = client.get(f"/diary/{diary.id}")
    assert len(re.findall(r"id=\"comment-\d", page.get_data(as_text=True))) == 20
    # session, viewer (+roles), diary, author (+roles), block check, comments, their authors
    # (+roles), visible avatars, unread count, photos: the same for 1 comment or 20.
    assert len(many) == len(few) <= 17, many
    with count_queries() as profile_queries:
        assert client.get(f"/members/{user.handle}").status_code == 200
    assert len(profile_queries) <= 31, profile_queries  # 30 before the role stamp (A16)
