"""Property: for random friendship graphs, blocks, suspensions, moderators, posts, comments and
profile fields, search returns exactly the visible matching objects computed by brute force
(`can_view` plus the analyzer's matching rule), with the right count, on each backend; then
again after random changes committed through the after-commit indexing."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.auth.models import AccountStatus, RoleCode, User, role_by_code
from app.db import utcnow
from app.extensions import db
from app.permissions import AnonymousViewer, Visibility, can_view, level_reaches, relation_between
from app.search.analyzer import matches, parse_query
from app.search.documents import NOT_SEARCHED
from app.search.service import search
from app.sns.models import Block, Comment, Diary, Friendship, ProfileValue

N_USERS = 5
LEVELS = [level.value for level in Visibility]
WORDS = ["夏祭り", "ナツマツリ", "防災", "公園", "Natsu", "桜", "花火"]
QUERIES = ["夏祭り", "なつまつり", "防災", "公園 桜", "natsu", "桜", "火", "祭"]

pairs = st.tuples(st.integers(0, N_USERS - 1), st.integers(0, N_USERS - 1)).filter(
    lambda p: p[0] != p[1]
)
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)
posts = st.tuples(st.integers(0, N_USERS - 1), st.sampled_from(LEVELS), st.booleans(), texts)
worlds = st.fixed_dictionaries(
    {
        "friendships": st.lists(pairs, max_size=7),
        "blocks": st.lists(pairs, max_size=2),
        "posts": st.lists(posts, min_size=1, max_size=6),
        "comments": st.lists(
            st.tuples(st.integers(0, 5), st.integers(0, N_USERS - 1), st.booleans(), texts),
            max_size=4,
        ),
        "fields": st.lists(
            st.tuples(st.integers(0, N_USERS - 1), st.sampled_from(LEVELS), texts), max_size=4
        ),
        "suspended": st.sets(st.integers(0, N_USERS - 1), max_size=1),
        "moderators": st.sets(st.integers(0, N_USERS - 1), max_size=1),
        # Changes after the first check: a diary's new level, unfriend one pair, a new block.
        "relevel": st.tuples(st.integers(0, 5), st.sampled_from(LEVELS)),
        "unfriend": st.integers(0, 6),
        "block": pairs,
    }
)

settings.register_profile(
    "search-ci",
    max_examples=int(os.environ.get("SEARCH_HYPOTHESIS_EXAMPLES", "15")),
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _visible_texts(viewer: Any, diaries: list[Any], comments: list[Any], users: list[Any]):
    """(kind, id) -> searchable text of every object the viewer may see (by brute force)."""
    out = {}
    for d in diaries:
        if can_view(viewer, d):
            out[("diary", d.id)] = d.title + "\n" + d.body
    for c in comments:
        if can_view(viewer, c):
            out[("comment", c.id)] = c.body
    for u in users:
        if not can_view(viewer, u):
            continue
        relation = relation_between(viewer, u.id)
        values = db.session.query(ProfileValue).filter_by(user_id=u.id).all()
        shown = [
            v.value
            for v in values
            if v.field_key not in NOT_SEARCHED and level_reaches(v.visibility, relation)
        ]
        out[("profile", u.id)] = "\n".join([u.display_name, u.handle, *shown])
    return out


def _check(app: Any, viewers: list[Any], diaries: list[Any], comments: list[Any], users: list[Any]):
    db.session.expire_all()
    for viewer in viewers:
        texts = _visible_texts(viewer, diaries, comments, users)
        for q in QUERIES:
            parsed = parse_query(q)
            want = {ref for ref, text in texts.items() if matches(parsed, text)}
            with app.test_request_context():
                results = search(viewer, q, per_page=100)
            assert not results.degraded
            got = {(h.kind, h.object_id) for h in results.hits}
            assert got == want, (q, viewer, got, want)
            assert results.total == len(want), (q, viewer, results.total, want)


@pytest.fixture
def roles(app: Any) -> None:
    role_by_code(RoleCode.MEMBER)
    role_by_code(RoleCode.MODERATOR)
    db.session.commit()


@settings(settings.get_profile("search-ci"))
@given(world=worlds)
def test_search_equals_brute_force(app: Any, roles: None, world: dict[str, Any]) -> None:
    run = os.urandom(4).hex()
    users = [
        User(
            email=f"s{run}{i}@example.jp",
            email_key=f"s{run}{i}@example.jp",
            handle=f"s{run}{i}",
            handle_key=f"s{run}{i}",
            display_name=["夏祭り 太郎", "公園 花子", "Natsu Ito", "桜井 一郎", "防災 次郎"][i],
            password_hash="x",
            status=AccountStatus.SUSPENDED.value
            if i in world["suspended"]
            else AccountStatus.ACTIVE.value,
        )
        for i in range(N_USERS)
    ]
    moderator = role_by_code(RoleCode.MODERATOR)
    for i in world["moderators"]:
        users[i].roles.append(moderator)
    db.session.add_all(users)
    db.session.flush()
    friendships = sorted({tuple(sorted(p)) for p in world["friendships"]})
    for a, b in friendships:
        db.session.add(Friendship(user_id=users[a].id, friend_id=users[b].id))
        db.session.add(Friendship(user_id=users[b].id, friend_id=users[a].id))
    for a, b in set(world["blocks"]):
        db.session.add(Block(blocker_id=users[a].id, blocked_id=users[b].id))
    diaries = [
        Diary(
            author_id=users[author].id,
            title=text.split()[0],
            body=text,
            visibility=level,
            hidden_at=utcnow() if hidden else None,
        )
        for author, level, hidden, text in world["posts"]
    ]
    db.session.add_all(diaries)
    db.session.flush()
    comments = [
        Comment(
            diary_id=diaries[post].id,
            author_id=users[author].id,
            body=text,
            hidden_at=utcnow() if hidden else None,
        )
        for post, author, hidden, text in world["comments"]
        if post < len(diaries)
    ]
    db.session.add_all(comments)
    for owner, level, text in world["fields"]:
        row = db.session.get(ProfileValue, (users[owner].id, "hobbies"))
        if row is None:
            row = ProfileValue(user_id=users[owner].id, field_key="hobbies")
            db.session.add(row)
        row.value, row.visibility = text, level
    db.session.commit()  # indexed after this commit
    viewers: list[Any] = [AnonymousViewer(), *users]
    try:
        _check(app, viewers, diaries, comments, users)
        # Changes: each is indexed after its commit, or needs no indexing at all.
        index, level = world["relevel"]
        if index < len(diaries):
            diaries[index].visibility = level
        if friendships:
            a, b = friendships[world["unfriend"] % len(friendships)]
            for x, y in ((a, b), (b, a)):
                row = db.session.get(Friendship, (users[x].id, users[y].id))
                if row is not None:
                    db.session.delete(row)
        a, b = world["block"]
        if db.session.get(Block, (users[a].id, users[b].id)) is None:
            db.session.add(Block(blocker_id=users[a].id, blocked_id=users[b].id))
        db.session.commit()
        _check(app, viewers, diaries, comments, users)
    finally:
        # Deleting the members removes their documents too (and keeps examples apart).
        db.session.rollback()
        for user in users:
            db.session.delete(db.session.get(User, user.id))
        db.session.commit()
    with app.test_request_context():
        for q in QUERIES:
            # Nothing left in the index (possibly not one document): still answered by it.
            results = search(AnonymousViewer(), q)
            assert results.total == 0 and not results.degraded, results.degraded
