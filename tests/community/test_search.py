"""Search finds communities, topics and events only where the viewer may see them: secret
ones for their members alone, in the index and in the database fallback."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.models import RoleCode
from app.community import services
from app.extensions import db
from tests.conftest import PG_URL


@pytest.fixture(params=["whoosh", "postgres"] if PG_URL else ["whoosh"])
def app_config(app_config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    app_config["SEARCH_BACKEND"] = request.param
    return app_config


def _find(app: Any, viewer: Any, q: str, fallback: bool = False) -> set[tuple[str, int]]:
    from app.search.analyzer import parse_query
    from app.search.service import Filters, database_search, reload_hits, search

    with app.test_request_context():
        if fallback:
            page = database_search(parse_query(q), viewer, Filters(), 0, 50)
            hits = reload_hits(viewer, page.refs, parse_query(q))
        else:
            results = search(viewer, q)
            assert not results.degraded, results.degraded
            hits = results.hits
        return {(hit.kind, hit.object_id) for hit in hits}


def test_secret_content_is_found_by_members_only(
    app: Any, make: Any, user: Any, other_user: Any, community: Any, topic: Any, event: Any
) -> None:
    member = make.user()
    secret = community(user, kind="secret", members=(member,), name="ひみつの囲碁クラブ")
    open_com = community(user, name="みんなの囲碁広場")
    secret_topic = topic(secret, member, title="囲碁の定石", body="星の定石について")
    open_topic = topic(open_com, user, title="囲碁の初心者", body="はじめての囲碁")
    ev = event(secret, user, title="囲碁大会")
    moderator = make.user(role=RoleCode.MODERATOR)
    for fallback in (False, True):
        for viewer in (other_user, moderator):
            found = _find(app, viewer, "囲碁", fallback)
            assert ("community", open_com.id) in found
            assert ("topic", open_topic.id) in found
            assert (
                not {("community", secret.id), ("topic", secret_topic.id), ("event", ev.id)} & found
            )
        found = _find(app, member, "囲碁", fallback)
        assert {("community", secret.id), ("topic", secret_topic.id), ("event", ev.id)} <= found
    # Made open by a moderator: its topics follow, re-indexed with it.
    services.moderator_edit_community(
        moderator, secret, kind="open", admin=None, official=False, reason="公開へ"
    )
    db.session.commit()
    assert ("topic", secret_topic.id) in _find(app, other_user, "定石")


def _hits(app: Any, viewer: Any, q: str) -> tuple[int, dict[tuple[str, int], str]]:
    from app.search.service import search

    with app.test_request_context():
        results = search(viewer, q)
        assert not results.degraded, results.degraded
        return results.total, {(hit.kind, hit.object_id): hit.url for hit in results.hits}


def test_replies_are_found_where_their_topic_is_visible(
    app: Any, make: Any, user: Any, other_user: Any, community: Any, topic: Any
) -> None:
    member = make.user()
    open_com = community(user, members=(other_user,), name="町内の将棋会")
    secret = community(user, kind="secret", members=(member,), name="内緒の将棋会")
    open_topic = topic(open_com, user, title="次の対局", body="日程の相談")
    secret_topic = topic(secret, member, title="秘密の対局", body="日程")
    open_reply = services.add_post(open_topic, other_user, "穴熊囲いで行きます")
    secret_reply = services.add_post(secret_topic, member, "穴熊囲いは禁止です")
    db.session.commit()
    # The reply links to its own place: the topic page that holds it, at its anchor.
    total, found = _hits(app, other_user, "穴熊")
    assert found == {
        ("topic_post", open_reply.id): (
            f"/topics/{open_topic.id}?post={open_reply.id}#post-{open_reply.id}"
        )
    }
    assert total == 1
    for fallback in (False, True):
        assert ("topic_post", secret_reply.id) in _find(app, member, "穴熊", fallback)
        assert ("topic_post", secret_reply.id) not in _find(app, other_user, "穴熊", fallback)
    assert _hits(app, None, "穴熊") == (0, {})  # guests see no community content
    # A hidden topic takes its replies out of the results and the count; a deleted reply goes.
    moderator = make.user(role=RoleCode.MODERATOR)
    from app.moderation.content import content_kind
    from app.moderation.services import hide_content

    hide_content(moderator, content_kind("topic"), open_topic, "確認中")
    db.session.commit()
    assert _hits(app, other_user, "穴熊") == (0, {})
    member_total, member_found = _hits(app, member, "穴熊")
    assert set(member_found) == {("topic_post", secret_reply.id)} and member_total == 1
    services.delete_post(secret_reply, member)
    db.session.commit()
    assert _hits(app, member, "穴熊") == (0, {})
