"""`flask sample load` accepts communities, topics and events and prints their URL paths;
`flask sample demo` adds communities of every kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.community.models import Community, Event, Topic
from app.extensions import db

DATA = {
    "members": [
        {"key": h, "email": f"{h}@example.jp", "password": "password-123", "handle": h,
         "display_name": h}
        for h in ("alice", "bob", "carol")
    ],
    "communities": [
        {"key": "k1", "name": "子ども食堂の会", "kind": "open", "admin": "alice",
         "members": ["bob"]},
        {"key": "k2", "name": "秘密の会", "kind": "secret", "admin": "alice", "members": []},
    ],
    "topics": [
        {"key": "t1", "community": "k1", "author": "bob", "title": "献立", "body": "来週の献立"},
    ],
    "events": [
        {"key": "e1", "community": "k1", "author": "alice", "title": "食堂の日",
         "starts_at": "2026-12-01T10:00:00+09:00", "place": "公民館", "capacity": 20},
    ],
}  # fmt: skip


def _load(app: Any, tmp_path: Path, data: Any) -> Any:
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return app.test_cli_runner().invoke(args=["sample", "load", str(path)])


def test_load_prints_paths(app: Any, tmp_path: Path, login_as: Any) -> None:
    result = _load(app, tmp_path, DATA)
    assert result.exit_code == 0, result.output
    paths = json.loads(result.output)
    k1 = db.session.execute(
        select(Community).where(Community.name == "子ども食堂の会")
    ).scalar_one()
    t1 = db.session.execute(select(Topic)).scalar_one()
    e1 = db.session.execute(select(Event)).scalar_one()
    assert paths["k1"] == f"/communities/{k1.id}"
    assert paths["t1"] == f"/topics/{t1.id}"
    assert paths["e1"] == f"/events/{e1.id}"
    assert e1.capacity == 20 and e1.place == "公民館"
    from app.auth.services import find_user_by_handle

    carol = find_user_by_handle("carol")
    client = login_as(carol, password="password-123")
    assert client.get(paths["k1"]).status_code == 200
    assert client.get(paths["k2"]).status_code == 404


def test_load_names_a_bad_entry_and_stores_nothing(app: Any, tmp_path: Path) -> None:
    bad = {**DATA, "topics": [{**DATA["topics"][0], "author": "carol"}]}  # carol is no member
    result = _load(app, tmp_path, bad)
    assert result.exit_code != 0
    assert "topics[0]" in result.output
    db.session.rollback()
    assert db.session.execute(select(Community)).first() is None
    wrong_kind = {**DATA, "communities": [{**DATA["communities"][0], "kind": "closed"}]}
    assert "kind" in _load(app, tmp_path, wrong_kind).output


def test_demo_has_every_kind(app: Any) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["sample", "demo"]).exit_code == 0
    assert runner.invoke(args=["sample", "demo"]).exit_code == 0  # idempotent
    kinds = db.session.execute(select(Community.kind)).scalars().all()
    assert sorted(kinds) == ["approval", "open", "secret"]
    assert db.session.execute(select(Topic)).first() is not None
    assert db.session.execute(select(Event)).first() is not None
