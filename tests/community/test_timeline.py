"""Community topics and replies on the SNS home timeline: only what the member may see, mixed
with diaries newest first, keyset pages without gaps or duplicates, constant query counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update

from app.community import services as cs
from app.community.models import Topic, TopicPost
from app.db import utcnow
from app.extensions import db
from app.sns import services as sns
from app.sns.models import Diary
from tests.sns.test_queries import count_queries

PHONE = "連絡は 090-1234-5678 まで"


def _kinds(page: Any) -> list[tuple[str, int]]:
    return [(item.kind, item.id) for item in page.items]


def _reply(t: Topic, author: Any, body: str = "参加します") -> TopicPost:
    row = cs.add_post(t, author, body)
    db.session.commit()
    return row


def test_members_see_new_topics_and_replies_with_community_title_and_author(
    app: Any, make: Any, user: Any, other_user: Any, community: Any, topic: Any
) -> None:
    com = community(other_user, name="駅前の会", members=(user,))
    t = topic(com, other_user, title="清掃の相談", body="土曜の朝に集まりましょう")
    reply = _reply(t, user, "参加します")
    page = sns.timeline(other_user)
    assert _kinds(page) == [("topic_post", reply.id), ("topic", t.id)]
    entry = page.items[0]
    assert entry.data["community"] == "駅前の会" and entry.data["title"] == "清掃の相談"
    assert entry.author.id == user.id and entry.data["body"] == "参加します"
    assert entry.data["topic_id"] == t.id and entry.data["community_id"] == com.id
    # a member who is not in the community gets nothing from it
    outsider = make.user(handle="outsider")
    assert _kinds(sns.timeline(outsider)) == []


def test_secret_community_entries_reach_only_its_members(
    app: Any, make: Any, user: Any, other_user: Any, community: Any, topic: Any
) -> None:
    com = community(other_user, kind="secret", name="秘密の会", members=(user,))
    t = topic(com, other_user, title="内緒の話")
    assert ("topic", t.id) in _kinds(sns.timeline(user))
    cs.leave_community(user, com)
    db.session.commit()
    db.session.expire_all()
    assert _kinds(sns.timeline(user)) == []
    assert _kinds(sns.timeline(make.user(handle="stranger"))) == []


def test_hidden_and_held_posts_reach_only_their_author(
    app: Any, user: Any, other_user: Any, community: Any, topic: Any
) -> None:
    com = community(other_user, members=(user,))
    t = topic(com, other_user, title="ふつうの話題")
    shown = _reply(t, user, "見える返信")
    held = _reply(t, user, PHONE)  # the word filter holds a phone number for review
    assert held.hidden_at is not None
    hidden = _reply(t, user, "あとで隠される返信")
    hidden.hidden_at = utcnow()
    held_topic = topic(com, user, title="売ります", body=PHONE)
    assert held_topic.hidden_at is not None
    db.session.commit()
    assert _kinds(sns.timeline(other_user)) == [("topic_post", shown.id), ("topic", t.id)]
    mine = _kinds(sns.timeline(user))
    assert ("topic_post", held.id) in mine and ("topic", held_topic.id) in mine


def test_blocks_hide_entries_both_ways(
    app: Any, make: Any, user: Any, other_user: Any, community: Any, topic: Any
) -> None:
    com = community(other_user, members=(user,))
    t = topic(com, other_user, title="管理人の話題")
    reply = _reply(t, user)
    make.block(user, other_user)
    db.session.expire_all()
    assert ("topic", t.id) not in _kinds(sns.timeline(user))
    assert ("topic_post", reply.id) not in _kinds(sns.timeline(other_user))


def test_pages_across_kinds_have_no_gaps_or_duplicates(
    app: Any, make: Any, user: Any, other_user: Any, community: Any, topic: Any
) -> None:
    make.friends(user, other_user)
    com = community(other_user, members=(user,))
    topics = [topic(com, other_user, title=f"話題{i}") for i in range(3)]
    posts = [_reply(topics[i % 3], other_user, f"返信{i}") for i in range(5)]
    diaries = [make.diary(other_user, title=f"日記{i}") for i in range(4)]
    # Several rows of different kinds share one instant: the cursor must order them by kind
    # and id, never skip or repeat one.
    same = utcnow().replace(microsecond=123456) - dt.timedelta(minutes=5)
    db.session.execute(update(Topic).where(Topic.id == topics[1].id).values(created_at=same))
    db.session.execute(
        update(TopicPost)
        .where(TopicPost.id.in_([posts[0].id, posts[3].id]))
        .values(created_at=same)
    )
    db.session.execute(
        update(Diary).where(Diary.id.in_([diaries[0].id, diaries[2].id])).values(created_at=same)
    )
    db.session.commit()
    db.session.expire_all()
    everything = _kinds(sns.timeline(user, limit=100))
    assert len(everything) == len(set(everything)) == 12
    seen: list[tuple[str, int]] = []
    cursor = None
    for _page in range(12):
        page = sns.timeline(user, cursor, limit=5)
        seen += _kinds(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == everything
    times = [item.created_at for item in sns.timeline(user, limit=100).items]
    assert times == sorted(times, reverse=True)
    # an old diary-list cursor still works as a diary cursor; a broken one starts over
    assert _kinds(sns.timeline(user, "garbage_topic_x", limit=100)) == everything
    assert _kinds(sns.timeline(user, "1_Topic_1", limit=100)) == everything
    assert _kinds(sns.timeline(user, f"1_topic_{10**15}", limit=100)) == everything
    assert _kinds(sns.timeline(user, f"{10**17}_diary_1", limit=100)) == everything
    stamp = (same - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    after_old = _kinds(sns.timeline(user, f"{stamp}_{diaries[2].id}", limit=100))
    assert after_old == everything[everything.index(("diary", diaries[2].id)) + 1 :]


def test_timeline_pages_follow_through_the_view(
    app: Any, make: Any, user: Any, other_user: Any, community: Any, topic: Any, login_as: Any
) -> None:
    com = community(other_user, members=(user,))
    t = topic(com, other_user, title="ページ送り")
    for i in range(55):
        db.session.add(TopicPost(topic_id=t.id, author_id=other_user.id, body=f"返信{i}"))
    db.session.commit()
    client = login_as(user)
    first = client.get("/timeline").get_data(as_text=True)
    assert first.count('class="card community-entry') == 50
    page = sns.timeline(user)
    second = client.get(f"/timeline?after={page.next_cursor}").get_data(as_text=True)
    assert second.count('class="card community-entry') == 6


def test_query_count_is_constant_with_community_entries(
    app: Any, make: Any, user: Any, other_user: Any, community: Any, topic: Any
) -> None:
    make.friends(user, other_user)
    com = community(other_user, members=(user,))
    t = topic(com, other_user)
    make.diary(other_user)
    _reply(t, other_user)
    db.session.expire_all()
    with count_queries() as small:
        page = sns.timeline(user)
    assert {item.kind for item in page.items} == {"diary", "topic", "topic_post"}
    for i in range(30):
        db.session.add(Topic(community_id=com.id, author_id=other_user.id, title=f"t{i}", body="b"))
        db.session.add(TopicPost(topic_id=t.id, author_id=other_user.id, body=f"r{i}"))
        db.session.add(
            Diary(author_id=other_user.id, title=f"d{i}", body="b", visibility="friends")
        )
    db.session.commit()
    db.session.expire_all()
    with count_queries() as big:
        page = sns.timeline(user)
    assert len(page.items) == 50 and page.next_cursor
    # the diary page's queries (tests/sns/test_queries.py) plus one for topics and one for
    # replies; avatars of every author come in the diaries' single avatar query.
    assert len(big) == len(small) <= 10, big


def test_home_page_shows_the_entries_with_links_to_the_post(
    app: Any, user: Any, other_user: Any, community: Any, topic: Any, login_as: Any
) -> None:
    com = community(other_user, name="子育て広場", members=(user,))
    t = topic(com, other_user, title="公園の遊具", body="新しい遊具が入りました")
    reply = _reply(t, user, "見に行きます")
    client = login_as(other_user)
    html = client.get("/").get_data(as_text=True)
    assert html.count('class="card community-entry') == 2
    assert "子育て広場" in html and "新しい遊具が入りました" in html and "見に行きます" in html
    assert '<h3 class="diary-card-title"><a href="' in html
    assert f'/topics/{t.id}?post={reply.id}#post-{reply.id}"' in html
    assert f'/topics/{t.id}">公園の遊具</a>' in html and user.display_name in html
    assert "「公園の遊具」への返信" in html
    timeline_html = client.get("/timeline").get_data(as_text=True)
    assert '<h2 class="diary-card-title"><a href="' in timeline_html
    assert "「公園の遊具」への返信" in timeline_html


def test_link_to_a_reply_opens_the_page_that_holds_it(
    app: Any, user: Any, other_user: Any, community: Any, topic: Any, login_as: Any
) -> None:
    com = community(other_user, members=(user,))
    t = topic(com, other_user)
    posts = [cs.add_post(t, user, f"返信{i}") for i in range(25)]
    db.session.commit()
    target = posts[22]  # the 23rd reply: page 2 at 20 replies a page
    assert cs.page_of_post(t, other_user, target.id) == 2
    assert cs.page_of_post(t, other_user, posts[0].id) == 1
    assert cs.page_of_post(t, other_user, 10**12) is None
    other_topic = topic(com, other_user, title="別の話題")
    assert cs.page_of_post(other_topic, other_user, target.id) is None
    client = login_as(other_user)
    path = f"/topics/{t.id}"
    html = client.get(f"{path}?post={target.id}").get_data(as_text=True)
    assert f'id="post-{target.id}"' in html and f'id="post-{posts[0].id}"' not in html
    first = client.get(f"{path}?post=abc")
    assert first.status_code == 200 and f'id="post-{posts[0].id}"' in first.get_data(as_text=True)
