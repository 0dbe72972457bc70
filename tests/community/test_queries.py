"""Query counts of the community page and the topic page stay constant however many topics,
replies, events and members they show (never timings)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.community import services
from app.community.models import Event, Topic, TopicPost
from app.db import utcnow
from app.extensions import db
from tests.sns.test_queries import count_queries


def _fill(com: Any, authors: list[Any], n: int) -> Topic:
    for i in range(n):
        author = authors[i % len(authors)]
        db.session.add(Topic(community_id=com.id, author_id=author.id, title=f"t{i}", body="b"))
        db.session.add(
            Event(
                community_id=com.id,
                author_id=author.id,
                title=f"e{i}",
                starts_at=utcnow() + dt.timedelta(days=i + 1),
            )
        )
    db.session.commit()
    return Topic(community_id=com.id, author_id=authors[0].id, title="x", body="b")


def test_community_page_constant_queries(
    app: Any, make: Any, user: Any, login_as: Any, community: Any
) -> None:
    few = [make.user() for _ in range(2)]
    com = community(user, members=tuple(few))
    _fill(com, [user, *few], 2)
    client = login_as(user)
    url = f"/communities/{com.id}"
    client.get(url)
    with count_queries() as small:
        assert client.get(url).status_code == 200
    many = [make.user() for _ in range(12)]
    for m in many:
        services._insert_member(com, m, "member")
    _fill(com, [user, *few, *many], 25)
    with count_queries() as big:
        response = client.get(url)
    assert response.status_code == 200
    assert response.get_data(as_text=True).count("/topics/") >= 10
    assert len(big) == len(small), "\n".join(big)


def test_topic_page_constant_queries(
    app: Any, make: Any, user: Any, login_as: Any, community: Any, topic: Any
) -> None:
    authors = [make.user() for _ in range(6)]
    com = community(user, members=tuple(authors))
    row = topic(com, user)
    first = services.add_post(row, authors[0], "最初")
    services.add_post(row, authors[1], "引用", quote_id=first.id)
    db.session.commit()
    client = login_as(user)
    url = f"/topics/{row.id}"
    client.get(url)
    with count_queries() as small:
        assert client.get(url).status_code == 200
    for i in range(30):
        db.session.add(
            TopicPost(
                topic_id=row.id,
                author_id=authors[i % len(authors)].id,
                body=f"返信 {i}",
                quote_id=first.id if i % 2 else None,
            )
        )
    db.session.commit()
    with count_queries() as big:
        response = client.get(url)
    assert response.status_code == 200
    assert response.get_data(as_text=True).count('id="post-') == services.POSTS_PAGE
    assert len(big) == len(small), "\n".join(big)
