"""Adding purposes: the staff screen and `flask privacy purpose add/list` check field names
against the vault's fields and write an audit entry.

The purpose tables are reference data (kept between tests on PostgreSQL), so each test removes
what it added.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from app.auth.models import RoleCode
from app.extensions import db
from app.privacy import audit
from app.privacy.models import AuditEntry, Purpose, purpose_recipients

NEW = "test_event_invite"


@pytest.fixture(autouse=True)
def _remove_added_purposes(app) -> Iterator[None]:
    yield
    db.session.rollback()
    ids = list(db.session.execute(select(Purpose.id).where(Purpose.code.like("test_%"))).scalars())
    if ids:
        db.session.execute(
            delete(purpose_recipients).where(purpose_recipients.c.purpose_id.in_(ids))
        )
        db.session.execute(delete(Purpose).where(Purpose.id.in_(ids)))
        db.session.commit()


def _form(**overrides):
    data = {
        "code": NEW,
        "name_ja": "イベントの案内",
        "name_en": "Event invitations",
        "text_ja": "市のイベントの案内を送るために、氏名とメールアドレスを使います。",
        "text_en": "",
        "fields": ["name", "email"],
        "recipients": ["city"],
    }
    data.update(overrides)
    return data


def _audit_actions() -> list[tuple[str, str, list[str]]]:
    db.session.rollback()
    return [
        (e.action, e.purpose, list(e.fields))
        for e in db.session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
    ]


def test_staff_add_a_purpose_on_the_screen(client, login_as, make):
    login_as(make.user(role=RoleCode.STAFF))
    page = client.get("/staff/privacy/purposes/new")
    assert page.status_code == 200
    assert 'value="mobile_email"' in page.get_data(as_text=True)
    response = client.post("/staff/privacy/purposes/new", data=_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    purpose = db.session.execute(select(Purpose).where(Purpose.code == NEW)).scalar_one()
    assert purpose.fields == ("name", "email")
    assert [r.code for r in purpose.recipients] == ["city"]
    assert purpose.kind == "consent"
    assert ("purpose.add", NEW, ["name", "email"]) in _audit_actions()
    assert audit.verify_chain().ok
    assert "イベントの案内" in client.get("/staff/privacy/purposes").get_data(as_text=True)


def test_forged_field_names_are_refused_with_a_clear_message(client, login_as, make):
    login_as(make.user(role=RoleCode.STAFF))
    response = client.post("/staff/privacy/purposes/new", data=_form(fields=["name", "my_number"]))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "my_number" in html and "不明な項目" in html
    assert db.session.execute(select(Purpose).where(Purpose.code == NEW)).first() is None
    assert not [a for a in _audit_actions() if a[0] == "purpose.add"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"code": "Bad Code"}, "目的のコードは"),
        ({"code": "self"}, "このコードの目的はすでにあります。"),
        ({"fields": []}, "読める項目を一つ以上選んでください。"),
        ({"recipients": ["nobody_corp"]}, "不明な提供先"),
    ],
)
def test_bad_purposes_are_refused(client, login_as, make, overrides, message):
    login_as(make.user(role=RoleCode.STAFF))
    response = client.post("/staff/privacy/purposes/new", data=_form(**overrides))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert not [a for a in _audit_actions() if a[0] == "purpose.add"]


@pytest.mark.parametrize("path", ["/staff/privacy/purposes", "/staff/privacy/purposes/new"])
def test_purpose_screens_are_for_staff_only(client, login_as, user, path):
    assert client.get(path).status_code == 302  # guests go to the login page
    login_as(user)
    assert client.get(path).status_code == 404
    assert client.post(path, data=_form()).status_code in (404, 405)
    assert db.session.execute(select(Purpose).where(Purpose.code == NEW)).first() is None


def test_cli_add_and_list(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "privacy", "purpose", "add", NEW,
            "--name-ja", "イベントの案内", "--name-en", "Event invitations",
            "--text-ja", "案内を送ります。",
            "--field", "name,email", "--field", "postal_code",
            "--recipient", "city", "--actor", "admin:tanaka",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["fields"] == ["name", "email", "postal_code"]
    entry = db.session.execute(
        select(AuditEntry).where(AuditEntry.action == "purpose.add")
    ).scalar_one()
    assert (entry.actor, entry.purpose) == ("admin:tanaka", NEW)
    listed = runner.invoke(args=["privacy", "purpose", "list", "--json"])
    assert listed.exit_code == 0
    rows = {row["code"]: row for row in json.loads(listed.output)}
    assert rows[NEW]["recipients"] == ["city"]
    assert "self" in rows and "segment" in rows
    plain = runner.invoke(args=["privacy", "purpose", "list"])
    assert any(line.startswith(f"{NEW}\tconsent\tv1\t") for line in plain.output.splitlines())


def test_cli_refuses_unknown_fields_and_names_them(app):
    result = app.test_cli_runner().invoke(
        args=[
            "privacy", "purpose", "add", NEW, "--name-ja", "x", "--name-en", "x",
            "--text-ja", "x", "--field", "name,income", "--recipient", "city",
        ]
    )  # fmt: skip
    assert result.exit_code == 2
    assert "income" in result.output and "Unknown field" in result.output
    assert db.session.execute(select(Purpose).where(Purpose.code == NEW)).first() is None
