"""Search through the index: what is found, by whom, and how it stays current after commits.

Every test runs on each backend (Whoosh; and PostgreSQL when the suite runs on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.auth.models import AccountStatus, RoleCode
from app.db import utcnow
from app.extensions import db
from app.permissions import AnonymousViewer
from app.search.backend import Filters
from app.search.service import search

GUEST = AnonymousViewer()


def test_issue_examples(make: Any, user: Any, find: Any) -> None:
    body = "Natsu Matsuri 2026 と夏祭り"
    notice = make.diary(user, title="地域防災訓練のお知らせ", body=body, visibility="public")
    kana = make.diary(user, title="ナツマツリ", body="公園で", visibility="public")
    assert find(GUEST, "防災訓練") == [("diary", notice.id)]
    assert find(GUEST, "夏祭り") == [("diary", notice.id)]
    assert find(GUEST, "Natsu") == [("diary", notice.id)]
    assert find(GUEST, "なつまつり") == [("diary", kana.id)]
    assert find(GUEST, "園") == [("diary", kana.id)]  # one character
    assert find(GUEST, "秋祭り") == []


def test_visibility_levels(make: Any, user: Any, other_user: Any, find: Any) -> None:
    friend, fof, stranger = (make.user(handle=h) for h in ("friend1", "fof1", "stranger1"))
    make.friends(user, friend)
    make.friends(friend, fof)
    levels = ("public", "members", "friends_of_friends", "friends", "private")
    ids = {
        lv: make.diary(user, title=f"回覧板 {lv}", body="回覧板", visibility=lv).id for lv in levels
    }

    def seen(viewer: Any) -> set[str]:
        got = {oid for kind, oid in find(viewer, "回覧板") if kind == "diary"}
        return {lv for lv, i in ids.items() if i in got}

    assert seen(GUEST) == {"public"}
    assert seen(stranger) == {"public", "members"}
    assert seen(fof) == {"public", "members", "friends_of_friends"}
    assert seen(friend) == {"public", "members", "friends_of_friends", "friends"}
    assert seen(user) == set(levels)
    moderator = make.user(handle="mod1", role=RoleCode.MODERATOR)
    assert seen(moderator) == {"public", "members"}  # no extra reach


def test_counts_are_for_visible_hits_only(app: Any, make: Any, user: Any, other_user: Any) -> None:
    for i in range(7):
        make.diary(user, title=f"秘密の畑 {i}", body="畑", visibility="private")
    for i in range(3):
        make.diary(user, title=f"みんなの畑 {i}", body="畑", visibility="members")
    with app.test_request_context():
        assert search(other_user, "畑").total == 3
        assert search(user, "畑").total == 10
        assert search(GUEST, "畑").total == 0
        page = search(user, "畑", per_page=4, page=3)
        assert page.total == 10 and len(page.hits) == 2 and page.pages == 3


def test_live_updates(app: Any, make: Any, user: Any, other_user: Any, find: Any) -> None:
    from app.sns.services import delete_diary, restore_diary, update_diary

    diary = make.diary(user, title="田植え", body="田んぼ", visibility="public")
    assert find(GUEST, "田植え") == [("diary", diary.id)]
    # Public -> friends: gone for guests and strangers at once.
    update_diary(
        diary,
        user,
        title="田植え",
        body="田んぼ",
        visibility="friends",
        body_format="plain",
        allow_comments=True,
    )
    db.session.commit()
    assert find(GUEST, "田植え") == []
    assert find(other_user, "田植え") == []
    # Friendship: no re-index, found at the next search; unfriend: gone again.
    make.friends(user, other_user)
    assert find(other_user, "田植え") == [("diary", diary.id)]
    from app.sns.services import remove_friend

    remove_friend(user, other_user)
    db.session.commit()
    assert find(other_user, "田植え") == []
    # Edits of the text are searchable at once.
    update_diary(
        diary,
        user,
        title="稲刈り",
        body="田んぼ",
        visibility="members",
        body_format="plain",
        allow_comments=True,
    )
    db.session.commit()
    assert find(other_user, "田植え") == []
    assert find(other_user, "稲刈り") == [("diary", diary.id)]
    # Deletion and restore.
    delete_diary(diary, user)
    db.session.commit()
    assert find(user, "稲刈り") == []
    restore_diary(diary, user)
    db.session.commit()
    assert find(other_user, "稲刈り") == [("diary", diary.id)]


def test_hide_suspend_block(make: Any, user: Any, other_user: Any, find: Any) -> None:
    moderator = make.user(handle="mod2", role=RoleCode.MODERATOR)
    diary = make.diary(user, title="落とし物", body="駅前", visibility="public")
    comment = make.comment(diary, other_user, "落とし物を見ました")
    both = [("comment", comment.id), ("diary", diary.id)]
    assert sorted(find(GUEST, "落とし物")) == both
    # A moderator hides the diary: its comments go with it, except for author and moderators.
    diary.hidden_at = utcnow()
    db.session.commit()
    assert find(GUEST, "落とし物") == []
    assert find(other_user, "落とし物") == []
    assert sorted(find(user, "落とし物")) == both
    assert sorted(find(moderator, "落とし物")) == both
    diary.hidden_at = None
    db.session.commit()
    # A suspended member's content disappears (moderators still see it) and comes back when
    # the suspension runs out, with no re-indexing.
    user.status = AccountStatus.SUSPENDED.value
    user.suspended_until = utcnow() + dt.timedelta(days=1)
    db.session.commit()
    assert find(GUEST, "落とし物") == []
    assert sorted(find(moderator, "落とし物")) == both
    user.suspended_until = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    assert sorted(find(GUEST, "落とし物")) == both
    # A block hides each side from the other, both ways: the comment's author cannot find the
    # diary, and the diary's author no longer finds the comment.
    make.block(user, other_user)
    assert find(other_user, "落とし物") == []  # their own comment sits on a diary they cannot see
    assert find(user, "落とし物") == [("diary", diary.id)]
    # A deleted comment is gone for everyone.
    from app.sns.services import delete_comment

    delete_comment(comment, other_user)
    db.session.commit()
    assert find(moderator, "落とし物") == [("diary", diary.id)]


def test_profile_fields_at_their_own_level(
    make: Any, user: Any, other_user: Any, find: Any
) -> None:
    make.profile_value(user, "hobbies", "盆栽と釣り", "members")
    make.profile_value(user, "self_intro", "趣味は囲碁です", "friends")
    make.profile_value(user, "district", "北町", "public")
    me = [("profile", user.id)]
    assert find(GUEST, "長岡") == me  # the name is public
    assert find(GUEST, "北町") == me
    assert find(GUEST, "盆栽") == []
    assert find(other_user, "盆栽") == me
    assert find(other_user, "長岡 盆栽") == me  # name and field together, counted once
    assert find(other_user, "囲碁") == []
    make.friends(user, other_user)
    assert find(other_user, "囲碁 盆栽") == me
    make.profile_value(user, "self_intro", "趣味は囲碁です", "private")
    assert find(other_user, "囲碁") == []
    assert find(user, "囲碁") == me
    # Renaming is searchable at once.
    user.display_name = "山古志 花子"
    db.session.commit()
    assert find(GUEST, "山古志") == me
    assert find(GUEST, "長岡") == []


def test_filters_and_sort(app: Any, make: Any, user: Any, other_user: Any) -> None:
    old = make.diary(
        user,
        title="花火 昔",
        body="花火",
        visibility="public",
        created_at=utcnow() - dt.timedelta(days=400),
    )
    new = make.diary(other_user, title="花火", body="花火 花火 花火", visibility="public")
    note = make.comment(new, user, "花火きれい")
    with app.test_request_context():
        by_date = search(GUEST, "花火", sort="date")
        assert [h.object_id for h in by_date.hits][-1] == old.id
        only_diaries = search(GUEST, "花火", Filters(kinds=("diary",)))
        assert {h.object_id for h in only_diaries.hits} == {old.id, new.id}
        mine = search(GUEST, "花火", Filters(author_id=user.id))
        assert {(h.kind, h.object_id) for h in mine.hits} == {
            ("diary", old.id),
            ("comment", note.id),
        }
        recent = search(GUEST, "花火", Filters(since=utcnow() - dt.timedelta(days=30)))
        assert old.id not in {h.object_id for h in recent.hits if h.kind == "diary"}
        earlier = search(GUEST, "花火", Filters(until=utcnow() - dt.timedelta(days=30)))
        assert [(h.kind, h.object_id) for h in earlier.hits] == [("diary", old.id)]
        assert search(GUEST, "花火", Filters(community_id=1)).total == 0


def test_hit_links_to_the_objects_own_page(app: Any, make: Any, user: Any, client: Any) -> None:
    diary = make.diary(user, title="朝市", body="<b>新鮮</b>な野菜", visibility="public")
    comment = make.comment(diary, user, "朝市で買いました")
    body = client.get("/search?q=朝市").get_data(as_text=True)
    assert f'href="/diary/{diary.id}"' in body
    assert f'href="/diary/{diary.id}#comment-{comment.id}"' in body
    assert "<mark>朝市</mark>" in body
    assert "<b>新鮮</b>" not in body
    members = client.get("/search?q=長岡").get_data(as_text=True)
    assert 'href="/members/alice"' in members


def test_relevance_puts_title_matches_first_then_newest(app: Any, make: Any, user: Any) -> None:
    now = utcnow()
    titled = make.diary(
        user,
        title="花火大会",
        body="川原で",
        visibility="public",
        created_at=now - dt.timedelta(days=30),
    )
    older = make.diary(
        user,
        title="週末",
        body="花火を見た",
        visibility="public",
        created_at=now - dt.timedelta(days=20),
    )
    newer = make.diary(
        user,
        title="夏の夜",
        body="花火を見た",
        visibility="public",
        created_at=now - dt.timedelta(days=10),
    )
    with app.test_request_context():
        by_relevance = search(GUEST, "花火")
        by_date = search(GUEST, "花火", sort="date")
    assert [h.object_id for h in by_relevance.hits] == [titled.id, newer.id, older.id]
    assert [h.object_id for h in by_date.hits] == [newer.id, older.id, titled.id]
    assert by_relevance.total == by_date.total == 3


def test_a_new_site_with_an_empty_index_searches_it(app: Any, find: Any) -> None:
    """No document at all yet: Whoosh has no idf for a term (log of 0 documents), which must not
    send the search to the slower database fallback with a notice."""
    assert app.test_cli_runner().invoke(args=["search", "rebuild"]).exit_code == 0
    assert find(GUEST, "夏祭り") == []
    assert find(GUEST, "夏祭り", sort="date") == []
