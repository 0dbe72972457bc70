"""`flask sample load` and `flask sample demo`."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from app.auth.models import RoleCode, User
from app.extensions import db


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def write(tmp_path, data):
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


MEMBERS = {
    "members": [
        {
            "key": "alice",
            "email": "alice@example.jp",
            "password": "alice-password",
            "display_name": "長岡 花子",
            "handle": "alice",
            "role": "member",
        },
        {
            "key": "mod",
            "email": "mod@example.jp",
            "password": "moderator-pw",
            "display_name": "NPO 担当",
            "handle": "npo_mod",
            "role": "moderator",
        },
    ]
}


def test_load_members_prints_paths_and_they_can_log_in(app, client, tmp_path):
    result = run(app, "sample", "load", write(tmp_path, MEMBERS))
    assert result.exit_code == 0, result.output
    paths = json.loads(result.output)
    assert paths["alice"] == "/members/alice"
    assert paths["mod"] == "/members/npo_mod"
    db.session.rollback()
    mod = db.session.execute(select(User).where(User.handle == "npo_mod")).scalar_one()
    assert mod.has_role(RoleCode.MODERATOR)
    login = client.post(
        "/auth/login", data={"email": "alice@example.jp", "password": "alice-password"}
    )
    assert login.status_code == 302


def test_load_is_all_or_nothing_and_names_the_bad_entry(app, tmp_path):
    bad = {"members": [*MEMBERS["members"], {"key": "bad", "email": "nope", "password": "short"}]}
    result = run(app, "sample", "load", write(tmp_path, bad))
    assert result.exit_code == 1
    assert "members[2]" in result.output and "'bad'" in result.output
    db.session.rollback()
    assert db.session.execute(select(func.count(User.id))).scalar_one() == 0


def test_load_refuses_duplicates_unknown_sections_and_bad_json(app, tmp_path):
    dup = {"members": [MEMBERS["members"][0], {**MEMBERS["members"][1], "key": "alice"}]}
    assert "used twice" in run(app, "sample", "load", write(tmp_path, dup)).output
    unknown = {"members": [], "spaceships": []}
    assert "spaceships" in run(app, "sample", "load", write(tmp_path, unknown)).output
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    result = run(app, "sample", "load", str(path))
    assert result.exit_code == 2
    assert "not valid JSON" in result.output
    assert run(app, "sample", "load", str(tmp_path / "missing.json")).exit_code == 2


def test_demo_is_idempotent_and_prints_accounts(app):
    first = run(app, "sample", "demo")
    assert first.exit_code == 0, first.output
    assert "npo_sato@midori.example" in first.output
    db.session.rollback()
    count = db.session.execute(select(func.count(User.id))).scalar_one()
    assert count >= 12
    second = run(app, "sample", "demo")
    assert second.exit_code == 0
    db.session.rollback()
    assert db.session.execute(select(func.count(User.id))).scalar_one() == count
    quick = run(app, "sample", "demo", "--if-empty")
    assert "npo_sato@midori.example" in quick.output


def test_admin_create_invite_prints_one_time_link(app, client):
    result = run(app, "admin", "create-invite", "root@example.jp", "--hours", "2")
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith("http://localhost/auth/invite/")
    path = url.removeprefix("http://localhost")
    response = client.post(
        path,
        data={
            "email": "root@example.jp",
            "display_name": "運用者",
            "handle": "operator",
            "password": "operator password",
            "password_confirm": "operator password",
        },
    )
    assert response.status_code == 302
    db.session.rollback()
    op = db.session.execute(select(User).where(User.handle == "operator")).scalar_one()
    assert op.has_role(RoleCode.ADMIN)
    assert client.get(path).status_code == 410
