"""Accounts: invitations, confirmation, login, reset, settings, bad input."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from argon2 import extract_parameters
from sqlalchemy import func, select

from app.auth.models import EmailToken, Invitation, TokenPurpose, User
from app.db import utcnow
from app.extensions import db
from app.sessions import WebSession


def link_from(mail_body: str) -> str:
    match = re.search(r"http://localhost(/\S+)", mail_body)
    assert match, mail_body
    return match.group(1)


def register_data(**over):
    data = {
        "email": "new@example.jp",
        "display_name": "新井 さくら",
        "handle": "sakura",
        "password": "長い合言葉 with spaces",
        "password_confirm": "長い合言葉 with spaces",
    }
    data.update(over)
    return data


# --- invitations -----------------------------------------------------------------------------


def test_invitation_registers_and_logs_in_with_invited_address(client, make, user, outbox):
    issued = make.invitation(user, "new@example.jp", message="一緒に使いましょう")
    mail = outbox()[-1]
    assert mail.to_addr == "new@example.jp"
    path = link_from(mail.body)
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "長岡 花子" in html  # who invited
    assert "一緒に使いましょう" in html
    assert 'value="new@example.jp"' in html
    response = client.post(path, data=register_data())
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "新井 さくら" in home
    db.session.rollback()
    new = db.session.execute(select(User).where(User.handle == "sakura")).scalar_one()
    assert new.invited_by_id == user.id
    assert new.email_confirmed
    assert db.session.get(Invitation, issued.invitation.id).accepted_by_id == new.id


def test_invitation_is_single_use(client, make, user):
    issued = make.invitation(user, "new@example.jp")
    path = f"/auth/invite/{issued.token}"
    assert client.post(path, data=register_data()).status_code == 302
    again = client.post(path, data=register_data(email="x@example.jp", handle="other"))
    assert again.status_code == 410
    assert "すでに使われています" in again.get_data(as_text=True)


def test_expired_invitation_refused(client, make, user):
    issued = make.invitation(user, "new@example.jp")
    issued.invitation.expires_at = utcnow() - dt.timedelta(minutes=1)
    db.session.commit()
    response = client.get(f"/auth/invite/{issued.token}")
    assert response.status_code == 410
    assert "有効期限" in response.get_data(as_text=True)


def test_unknown_invitation_token(client):
    assert client.get("/auth/invite/not-a-token").status_code == 410


def test_invitation_with_other_address_needs_confirmation(client, make, user, outbox):
    issued = make.invitation(user, "new@example.jp")
    response = client.post(
        f"/auth/invite/{issued.token}", data=register_data(email="mine@example.jp")
    )
    assert response.status_code == 200
    assert "mine@example.jp" in response.get_data(as_text=True)
    confirm = outbox()[-1]
    assert confirm.to_addr == "mine@example.jp"
    # not confirmed yet: login refused with a clear message
    login = client.post(
        "/auth/login", data={"email": "mine@example.jp", "password": register_data()["password"]}
    )
    assert login.status_code == 401
    assert "確認" in login.get_data(as_text=True)
    path = link_from(confirm.body)
    # GET does not use the token (mail scanners follow links)
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 302
    assert client.post(path).status_code == 410
    login = client.post(
        "/auth/login", data={"email": "mine@example.jp", "password": register_data()["password"]}
    )
    assert login.status_code == 302


def test_member_invitation_quota(client, login_as, user, make):
    user.invite_quota = 1
    db.session.commit()
    login_as(user)
    first = client.post("/auth/invitations", data={"email": "a@example.jp"})
    assert first.status_code == 302
    second = client.post("/auth/invitations", data={"email": "b@example.jp"})
    assert second.status_code == 200
    assert "上限" in second.get_data(as_text=True)
    assert db.session.execute(select(func.count(Invitation.id))).scalar_one() == 1


def test_cannot_invite_existing_member(client, login_as, user, other_user):
    login_as(user)
    response = client.post("/auth/invitations", data={"email": other_user.email.upper()})
    assert response.status_code == 200
    assert "すでにアカウント" in response.get_data(as_text=True)


# --- registration bad input --------------------------------------------------------------------


def test_registration_errors_beside_fields_keep_input(client, make, user):
    issued = make.invitation(user, "new@example.jp")
    data = register_data(
        email="not-an-email", display_name="あ" * 51, handle="Bad Handle!", password_confirm="x"
    )
    response = client.post(f"/auth/invite/{issued.token}", data=data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "正しいメールアドレス" in html
    assert "50 文字以内" in html
    assert "一致しません" in html
    assert 'value="not-an-email"' in html  # kept
    assert data["password"] not in html  # passwords are never echoed
    assert 'aria-invalid="true"' in html
    assert db.session.execute(select(func.count(User.id))).scalar_one() == 1


def test_duplicate_email_and_handle_case_insensitive(client, make, user):
    issued = make.invitation(user, "new@example.jp")
    response = client.post(
        f"/auth/invite/{issued.token}", data=register_data(email="ALICE@example.jp", handle="ALICE")
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "すでにあります" in html


def test_handle_taken_case_insensitive(client, make, user):
    issued = make.invitation(user, "new@example.jp")
    response = client.post(f"/auth/invite/{issued.token}", data=register_data(handle="Alice"))
    assert "すでに使われています" in response.get_data(as_text=True)


def test_open_registration_off_by_default(client):
    assert client.get("/auth/register").status_code == 404


def test_open_registration_when_enabled(app, client, outbox):
    app.config["REGISTRATION_OPEN"] = True
    response = client.post("/auth/register", data=register_data())
    assert response.status_code == 200
    assert outbox()[-1].kind == "confirm_email"


def test_unicode_passwords_not_truncated_or_folded(make, client):
    password = "パスワード　全角スペース" + "x" * 100
    u = make.user(handle="uni", password=password)
    assert (
        client.post("/auth/login", data={"email": u.email, "password": password[:-1]}).status_code
        == 401
    )
    assert (
        client.post(
            "/auth/login", data={"email": u.email, "password": password.upper()}
        ).status_code
        == 401
    )
    assert (
        client.post("/auth/login", data={"email": u.email, "password": password}).status_code == 302
    )


def test_password_hash_is_argon2id_at_asvs_minimums(user):
    params = extract_parameters(user.password_hash)
    assert user.password_hash.startswith("$argon2id$")
    assert params.time_cost >= 2
    assert params.memory_cost >= 19 * 1024
    assert params.parallelism >= 1


def test_weaker_hash_replaced_at_login(app, client, user):
    from argon2 import PasswordHasher

    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(
        "correct horse battery staple"
    )
    db.session.commit()
    client.post(
        "/auth/login", data={"email": user.email, "password": "correct horse battery staple"}
    )
    db.session.rollback()
    assert extract_parameters(db.session.get(User, user.id).password_hash).memory_cost >= 19 * 1024


# --- login and logout --------------------------------------------------------------------------


def test_login_wrong_password_keeps_email_and_says_why(client, user):
    response = client.post("/auth/login", data={"email": user.email, "password": "wrong password"})
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "正しくありません" in html
    assert f'value="{user.email}"' in html
    assert "wrong password" not in html


def test_login_unknown_email_same_message(client):
    response = client.post(
        "/auth/login", data={"email": "nobody@example.jp", "password": "whatever1"}
    )
    assert response.status_code == 401
    assert "メールアドレスまたはパスワードが正しくありません" in response.get_data(as_text=True)


def test_login_case_insensitive_email(client, user):
    response = client.post(
        "/auth/login",
        data={"email": user.email.upper(), "password": "correct horse battery staple"},
    )
    assert response.status_code == 302


def test_login_next_only_relative(client, user):
    data = {"email": user.email, "password": "correct horse battery staple"}
    response = client.post("/auth/login", data={**data, "next": "https://evil.example/x"})
    assert response.headers["Location"] == "/"
    client.post("/auth/logout")
    response = client.post("/auth/login", data={**data, "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"
    client.post("/auth/logout")
    response = client.post("/auth/login", data={**data, "next": "/auth/settings"})
    assert response.headers["Location"] == "/auth/settings"


def test_overlong_login_input_no_500(client):
    response = client.post("/auth/login", data={"email": "a" * 5000, "password": "b" * 5000})
    assert response.status_code in (200, 401)


def test_suspended_member_cannot_log_in(client, user):
    from app.auth.services import suspend_user

    suspend_user(user, None)
    db.session.commit()
    response = client.post(
        "/auth/login", data={"email": user.email, "password": "correct horse battery staple"}
    )
    assert response.status_code == 401
    assert "利用停止" in response.get_data(as_text=True)


# --- password reset ----------------------------------------------------------------------------


def test_reset_flow_single_use_and_ends_sessions(app, client, user, outbox, login_as):
    other = app.test_client()
    login_as(user, the_client=other)
    unknown = client.post("/auth/forgot", data={"email": "nobody@example.jp"})
    known = client.post("/auth/forgot", data={"email": user.email})

    # the page does not reveal whether the address is registered
    def strip_nonce(html: str) -> str:
        return re.sub(r'nonce="[^"]+"', "", html)

    assert strip_nonce(unknown.get_data(as_text=True)) == strip_nonce(known.get_data(as_text=True))
    mails = [m for m in outbox() if m.kind == "reset_password"]
    assert len(mails) == 1
    path = link_from(mails[0].body)
    assert client.get(path).status_code == 200  # GET shows the form, uses nothing
    response = client.post(
        path, data={"password": "a brand new secret", "password_confirm": "a brand new secret"}
    )
    assert response.status_code == 302
    assert (
        client.post(
            path, data={"password": "another one!", "password_confirm": "another one!"}
        ).status_code
        == 410
    )
    # the other device was logged out
    assert other.get("/auth/settings").status_code == 302
    ok = client.post("/auth/login", data={"email": user.email, "password": "a brand new secret"})
    assert ok.status_code == 302


def test_reset_token_expires(client, user, outbox):
    client.post("/auth/forgot", data={"email": user.email})
    path = link_from(outbox()[-1].body)
    token = db.session.execute(select(EmailToken)).scalar_one()
    assert token.expires_at - utcnow() <= dt.timedelta(minutes=30)
    token.expires_at = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    response = client.post(
        path, data={"password": "a brand new secret", "password_confirm": "a brand new secret"}
    )
    assert response.status_code == 410
    assert "有効期限" in response.get_data(as_text=True)


def test_new_reset_request_invalidates_older_link(client, user, outbox):
    client.post("/auth/forgot", data={"email": user.email})
    first = link_from(outbox()[-1].body)
    client.post("/auth/forgot", data={"email": user.email})
    assert client.get(first).status_code == 410


# --- settings ----------------------------------------------------------------------------------


def test_email_change_confirms_new_and_notifies_old(client, login_as, user, outbox):
    login_as(user)
    bad = client.post("/auth/settings/email", data={"email": "new@example.jp", "password": "wrong"})
    assert bad.status_code == 200
    assert "正しくありません" in bad.get_data(as_text=True)
    ok = client.post(
        "/auth/settings/email",
        data={"email": "new@example.jp", "password": "correct horse battery staple"},
    )
    assert ok.status_code == 200
    mails = outbox()
    to_new = next(m for m in mails if m.kind == "change_email")
    notice = next(m for m in mails if m.kind == "email_change_notice")
    assert to_new.to_addr == "new@example.jp"
    assert notice.to_addr == user.email
    db.session.rollback()
    assert db.session.get(User, user.id).email == user.email  # unchanged until confirmed
    path = link_from(to_new.body)
    assert client.post(path).status_code == 302
    db.session.rollback()
    assert db.session.get(User, user.id).email == "new@example.jp"
    assert client.post(path).status_code == 410


def test_password_change_needs_current_and_logs_out_others(app, client, login_as, user, outbox):
    other = app.test_client()
    login_as(user, the_client=other)
    login_as(user)
    bad = client.post(
        "/auth/settings/password",
        data={
            "current_password": "nope",
            "password": "new secret 123",
            "password_confirm": "new secret 123",
            "logout_others": "y",
        },
    )
    assert "正しくありません" in bad.get_data(as_text=True)
    ok = client.post(
        "/auth/settings/password",
        data={
            "current_password": "correct horse battery staple",
            "password": "new secret 123",
            "password_confirm": "new secret 123",
            "logout_others": "y",
        },
    )
    assert ok.status_code == 302
    assert client.get("/auth/settings").status_code == 200  # this device stays logged in
    assert other.get("/auth/settings").status_code == 302  # the other one does not
    assert outbox()[-1].kind == "password_changed"


def test_delete_account(client, login_as, user):
    user_id = user.id
    login_as(user)
    bad = client.post("/auth/settings/delete", data={"password": "wrong", "confirm": "y"})
    assert bad.status_code == 200
    unconfirmed = client.post(
        "/auth/settings/delete", data={"password": "correct horse battery staple"}
    )
    assert unconfirmed.status_code == 200
    ok = client.post(
        "/auth/settings/delete", data={"password": "correct horse battery staple", "confirm": "y"}
    )
    assert ok.status_code == 302
    db.session.rollback()
    assert db.session.get(User, user_id) is None
    assert db.session.execute(select(func.count()).select_from(WebSession)).scalar_one() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/auth/settings",
        "/auth/settings/password",
        "/auth/settings/email",
        "/auth/settings/delete",
        "/auth/sessions",
        "/auth/invitations",
    ],
)
def test_settings_need_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_token_purposes_do_not_mix(client, user, outbox):
    client.post("/auth/forgot", data={"email": user.email})
    token_path = link_from(outbox()[-1].body)
    token = token_path.rsplit("/", 1)[-1]
    assert client.get(f"/auth/confirm/{token}").status_code == 410
    assert client.get(f"/auth/email/confirm/{token}").status_code == 410
    assert TokenPurpose.RESET_PASSWORD.value == "reset_password"
