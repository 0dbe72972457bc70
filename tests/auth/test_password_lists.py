"""A02: new passwords are checked against the shipped common/breached list and a context list
(site, municipality and NPO names, the member's email local part and user name), compared after
NFKC, trimming and case folding. A64: survey starts have their own anti-automation limit."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.auth import passwords
from app.auth.models import User
from app.extensions import db

COMMON = "このパスワードはよく使われるパスワードや流出したパスワードの一覧に含まれています。"
CONTEXT = "このサイト、市、NPOの名前や、ご自身のメールアドレス・ユーザー名をパスワードに"
GOOD = "長い合言葉 with spaces"


def register(client, app, password, **over):
    app.config["REGISTRATION_OPEN"] = True
    data = {
        "email": "sakura.new@example.jp",
        "display_name": "新井 さくら",
        "handle": "sakura",
        "password": password,
        "password_confirm": password,
    }
    data.update(over)
    return client.post("/auth/register", data=data)


def registered() -> bool:
    db.session.rollback()
    found = db.session.execute(select(User).where(User.handle == "sakura")).scalar_one_or_none()
    return found is not None


# --- the shipped list ------------------------------------------------------------------------


def test_list_ships_with_the_app_with_origin_and_licence():
    text = passwords.LIST_FILE.read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("zxcvbn" in line for line in header)
    assert any("MIT" in line for line in header)
    assert len(passwords.common_passwords()) >= 3000
    assert {"password", "iloveyou", "sunshine", "qwertyuiop"} <= passwords.common_passwords()


def test_list_is_read_once_per_process(monkeypatch):
    passwords.common_passwords.cache_clear()
    reads = []
    original = type(passwords.LIST_FILE).read_text

    def counting(self, *args, **kwargs):
        reads.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(passwords.LIST_FILE), "read_text", counting)
    for _ in range(3):
        passwords.common_passwords()
    assert reads == [passwords.LIST_FILE]


@pytest.mark.parametrize(
    "typed",
    ["password", "PassWord", "  password  ", "ｐａｓｓｗｏｒｄ", "ＰＡＳＳＷＯＲＤ", "iloveyou1"],
)
def test_common_and_breached_passwords_refused_at_registration(client, app, typed):
    response = register(client, app, typed)
    assert response.status_code == 200
    assert COMMON in response.get_data(as_text=True)
    assert not registered()


def test_a_password_off_the_lists_is_accepted(client, app):
    html = register(client, app, GOOD).get_data(as_text=True)
    assert COMMON not in html
    assert CONTEXT not in html
    assert registered()


# --- the context list ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "みどり市みどり市",  # too short alone; the doubled name is not the name: see next test
        "Midori City2024",
        "midoricity2024",
        "ＭＩＤＯＲＩ　ＣＩＴＹ１２３",
        "NPOみどりネット",
        "npoみどりネット2025",
        "Sankaku2026",
        "参画12345678",
        "sakura.new2024",
        "SAKURA.NEW",
        "sakura12345",
    ],
)
def test_context_words_refused_at_registration(client, app, typed):
    app.config["PASSWORD_MIN_LENGTH"] = 4
    response = register(client, app, typed)
    html = response.get_data(as_text=True)
    if typed == "みどり市みどり市":
        assert CONTEXT not in html  # only the word itself, or it plus digits
        assert registered()
        return
    assert CONTEXT in html
    assert not registered()


def test_context_words_come_from_configuration(client, app):
    app.config["PASSWORD_CONTEXT_WORDS"] = ("Hinata Board",)
    response = register(client, app, "hinataboard77")
    assert CONTEXT in response.get_data(as_text=True)
    app.config["PASSWORD_CONTEXT_WORDS"] = ()
    app.config["MUNICIPALITY_NAME_EN"] = "Aozora Town"
    html = register(client, app, "Midori City2024").get_data(as_text=True)
    assert CONTEXT not in html
    assert registered()


def test_reset_refuses_listed_and_own_words(client, user, outbox):
    client.post("/auth/forgot", data={"email": user.email})
    mail = [m for m in outbox() if m.kind == "reset_password"][-1]
    path = re.search(r"(/auth/reset/\S+)", mail.body).group(1)
    for typed, message in [
        ("ｉｌｏｖｅｙｏｕ", COMMON),
        ("alice2024", CONTEXT),  # the handle, from the token's owner
        ("ALICE999", CONTEXT),
    ]:
        response = client.post(path, data={"password": typed, "password_confirm": typed})
        assert response.status_code == 200
        assert message in response.get_data(as_text=True)
    ok = client.post(path, data={"password": GOOD, "password_confirm": GOOD})
    assert ok.status_code == 302


def test_change_refuses_listed_and_own_words(client, user, login_as):
    login_as(user)
    for typed, message in [("  SunShine ", COMMON), ("Alice12345", CONTEXT)]:
        response = client.post(
            "/auth/settings/password",
            data={
                "current_password": "correct horse battery staple",
                "password": typed,
                "password_confirm": typed,
            },
        )
        assert response.status_code == 200
        assert message in response.get_data(as_text=True)
    ok = client.post(
        "/auth/settings/password",
        data={
            "current_password": "correct horse battery staple",
            "password": GOOD,
            "password_confirm": GOOD,
        },
    )
    assert ok.status_code == 302


# --- A64: survey starts ----------------------------------------------------------------------


def test_survey_starts_are_rate_limited_with_the_translated_page(request, app_config):
    app_config.update({"RATELIMIT_ENABLED": True, "SURVEY_START_LIMIT": "2 per minute"})
    client = request.getfixturevalue("client")
    codes = [client.post("/monitors/surveys/nosuch/start").status_code for _ in range(3)]
    assert codes == [404, 404, 429]
    page = client.post("/monitors/surveys/nosuch/start")
    assert page.status_code == 429
    html = page.get_data(as_text=True)
    assert "試行回数が多すぎます" in html
    assert "Too many attempts" not in html
