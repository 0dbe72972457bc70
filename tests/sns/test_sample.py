"""`flask sample load` with the SNS sections, and `flask sample demo`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.auth.models import User
from app.extensions import db
from app.sns.models import Block, Comment, Diary, Friendship, Message, ProfileValue

SAMPLE = {
    "members": [
        {
            "key": "alice",
            "email": "alice@example.jp",
            "password": "alice-password-1",
            "display_name": "長岡 花子",
            "handle": "alice",
            "district": "北町",
            "role": "member",
            "profile": {"self_intro": {"value": "よろしくお願いします", "visibility": "friends"}},
        },
        {
            "key": "bob",
            "email": "bob@example.jp",
            "password": "bob-password-1",
            "display_name": "千代田 太郎",
            "handle": "bob",
        },
        {
            "key": "mallory",
            "email": "m@example.jp",
            "password": "mallory-pass",
            "display_name": "M",
            "handle": "mallory",
            "role": "moderator",
        },
    ],
    "friendships": [["alice", "bob"]],
    "blocks": [["alice", "mallory"]],
    "diaries": [
        {
            "key": "d1",
            "author": "alice",
            "title": "桜",
            "body": "きれいでした",
            "visibility": "friends",
        },
        {
            "key": "d2",
            "author": "bob",
            "title": "朝市",
            "body": "大根",
            "visibility": "public",
            "created_at": "2026-04-01T09:00:00+09:00",
        },
    ],
    "comments": [{"key": "c1", "diary": "d1", "author": "bob", "body": "いいですね"}],
}


def _load(app: Any, tmp_path: Path, data: Any) -> Any:
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return app.test_cli_runner().invoke(args=["sample", "load", str(path)])


def _counts() -> tuple[int, ...]:
    db.session.expire_all()
    return tuple(
        db.session.execute(select(func.count()).select_from(m)).scalar_one()
        for m in (User, Friendship, Block, Diary, Comment, ProfileValue)
    )


def test_load_prints_paths_and_stores_everything(app: Any, tmp_path: Path) -> None:
    result = _load(app, tmp_path, SAMPLE)
    assert result.exit_code == 0, result.output
    paths = json.loads(result.output)
    d1 = db.session.execute(select(Diary).where(Diary.title == "桜")).scalar_one()
    assert paths["alice"] == "/members/alice" and paths["d1"] == f"/diary/{d1.id}"
    assert paths["c1"].startswith(f"/diary/{d1.id}#comment-")
    assert _counts() == (3, 2, 1, 2, 1, 2)
    alice = db.session.execute(select(User).where(User.handle == "alice")).scalar_one()
    intro = db.session.get(ProfileValue, (alice.id, "self_intro"))
    assert intro is not None and intro.visibility == "friends"
    assert db.session.get(ProfileValue, (alice.id, "district")).value == "北町"
    client = app.test_client()
    assert (
        client.post(
            "/auth/login", data={"email": "bob@example.jp", "password": "bob-password-1"}
        ).status_code
        == 302
    )
    assert client.get(paths["d1"]).status_code == 200


def _broken(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(SAMPLE))
    for section, value in changes.items():
        data[section] = value
    return data


def test_bad_entries_are_named_and_nothing_is_stored(app: Any, tmp_path: Path) -> None:
    bad_member = json.loads(json.dumps(SAMPLE["members"]))
    bad_member[1]["district"] = "東京"
    bad_profile = json.loads(json.dumps(SAMPLE["members"]))
    bad_profile[0]["profile"] = {"self_intro": {"value": "x", "visibility": "everyone"}}
    cases = [
        (_broken(members=bad_member), "members[1] ('bob')"),
        (_broken(members=bad_profile), "members[0] ('alice')"),
        (_broken(friendships=[["alice", "nobody"]]), "friendships[0]"),
        (_broken(friendships=[["alice", "alice"]]), "friendships[0]"),
        (
            _broken(
                diaries=[
                    {
                        "key": "d1",
                        "author": "alice",
                        "title": "t",
                        "body": "b",
                        "visibility": "world",
                    }
                ]
            ),
            "diaries[0] ('d1')",
        ),
        (
            _broken(
                diaries=[
                    {
                        "key": "d1",
                        "author": "alice",
                        "title": "t" * 101,
                        "body": "b",
                        "visibility": "public",
                    }
                ]
            ),
            "diaries[0] ('d1')",
        ),
        (
            _broken(comments=[{"key": "c1", "diary": "d1", "author": "mallory", "body": "x"}]),
            "comments[0] ('c1')",
        ),
        (
            _broken(comments=[{"key": "c1", "diary": "d9", "author": "bob", "body": "x"}]),
            "comments[0] ('c1')",
        ),
        (_broken(blocks="nope"), "'blocks' must be a list"),
    ]
    for data, named in cases:
        result = _load(app, tmp_path, data)
        assert result.exit_code == 1, (named, result.output)
        assert named in result.output, (named, result.output)
        assert _counts() == (0, 0, 0, 0, 0, 0), named


def test_demo_is_lively_and_idempotent(app: Any) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["sample", "demo"])
    assert result.exit_code == 0, result.output
    first = _counts()
    users, friendships, _blocks, diaries, comments, values = first
    assert values >= 5 * 60
    assert users >= 60 and diaries == 300 and comments > 20 and friendships > 100
    levels = set(db.session.execute(select(Diary.visibility).distinct()).scalars())
    assert levels == {"private", "friends", "friends_of_friends", "members", "public"}
    assert db.session.execute(select(func.count(Message.id))).scalar_one() > 10
    districts = set(
        db.session.execute(
            select(ProfileValue.value).where(ProfileValue.field_key == "district")
        ).scalars()
    )
    assert len(districts) == len(app.config["DISTRICTS"])
    assert runner.invoke(args=["sample", "demo"]).exit_code == 0
    assert _counts() == first
