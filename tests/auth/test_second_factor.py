"""A08: admins, staff and NPO moderators pass a second factor (TOTP or JPKI) after the password.

TOTP codes (RFC 6238, 30 s, 6 digits) work once, one step of drift either way; seeds are 160
bits from the CSPRNG, stored sealed; passing rotates the session id; attempts are limited and
logged; `flask admin reset-2fa` is the recovery.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import time
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from sqlalchemy import select

from app.auth.models import CertificateBinding, RoleCode, TotpCredential
from app.auth.second_factor import (
    SecondFactorError,
    confirm_enrolment,
    open_secret,
    start_enrolment,
    verify_code,
)
from app.extensions import db
from tests.factories import Factories

PASSWORD = Factories.PASSWORD
PRIVILEGED_PAGES = {
    RoleCode.ADMIN: ["/admin/pages", "/admin/profile-fields", "/staff/privacy/projects"],
    RoleCode.MODERATOR: ["/moderation/", "/moderation/reports", "/notices/manage"],
    RoleCode.STAFF: ["/staff/surveys/", "/staff/monitors/", "/staff/privacy/purposes"],
}
MEMBER_PAGES = ["/", "/members", "/diary", "/friends", "/auth/settings", "/moderation/my-actions"]


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def app_log(app):
    capture = LogCapture()
    previous = app.logger.level
    app.logger.addHandler(capture)
    app.logger.setLevel(logging.INFO)
    yield capture
    app.logger.removeHandler(capture)
    app.logger.setLevel(previous)


def cookie(client, app):
    c = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return c.value if c else None


def password_step(client, user):
    return client.post("/auth/login", data={"email": user.email, "password": PASSWORD})


def secret_of(user) -> str:
    db.session.rollback()
    credential = db.session.get(TotpCredential, user.id)
    assert credential is not None
    return open_secret(credential)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def current_step() -> int:
    return int(time.time()) // 30


def submit(client, code, path="/auth/second-factor", next_url=""):
    return client.post(path, data={"code": code, "next": next_url})


def unenrolled(make, role):
    """A privileged account without an authenticator (as an invited admin starts)."""
    user = make.user(role=role)
    db.session.execute(TotpCredential.__table__.delete().where(TotpCredential.user_id == user.id))
    db.session.commit()
    return user


# --- enforcement -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(PRIVILEGED_PAGES))
def test_privileged_pages_redirect_until_the_second_factor(client, make, role):
    user = make.user(role=role)
    response = password_step(client, user)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/auth/second-factor"
    for page in PRIVILEGED_PAGES[role]:
        answer = client.get(page)
        assert answer.status_code == 302, page
        location = urlsplit(answer.headers["Location"])
        assert location.path == "/auth/second-factor", page
        assert parse_qs(location.query)["next"] == [page]
    # a POST to a privileged action is refused the same way, and changes nothing
    answer = client.post(PRIVILEGED_PAGES[role][0])
    assert answer.status_code in (302, 405)
    assert submit(client, code_at(secret_of(user), current_step())).status_code == 302
    for page in PRIVILEGED_PAGES[role]:
        assert client.get(page).status_code == 200, page


@pytest.mark.parametrize("role", list(PRIVILEGED_PAGES))
def test_unenrolled_privileged_account_is_sent_to_enrolment(client, make, role):
    user = unenrolled(make, role)
    password_step(client, user)
    answer = client.get(PRIVILEGED_PAGES[role][0])
    assert urlsplit(answer.headers["Location"]).path == "/auth/second-factor"
    page = client.get(answer.headers["Location"])
    assert page.status_code == 302
    assert urlsplit(page.headers["Location"]).path == "/auth/second-factor/enrol"


def test_member_pages_keep_working_without_the_second_factor(client, make):
    moderator = make.user(role=RoleCode.MODERATOR)
    password_step(client, moderator)
    for page in MEMBER_PAGES:
        assert client.get(page).status_code == 200, page


def test_moderator_sight_in_member_pages_waits_for_the_second_factor(app, client, make, user):
    """Seeing hidden content is a moderator's power too: with the password alone a moderator
    sees member pages and search as any member does."""
    from app.db import utcnow
    from app.sns.models import Diary

    diary = make.diary(user, title="盆踊りの場所のお知らせ", visibility="members")
    diary_row = db.session.get(Diary, diary.id)
    diary_row.hidden_at, diary_row.hidden_reason = utcnow(), "個人情報"
    db.session.commit()
    moderator = make.user(role=RoleCode.MODERATOR)
    password_step(client, moderator)
    assert client.get(f"/diary/{diary.id}").status_code == 404
    assert f"/diary/{diary.id}" not in client.get("/search?q=盆踊り").get_data(as_text=True)
    # The menu still leads to the approvals page, which asks for the code.
    assert 'href="/moderation/communities"' in client.get("/").get_data(as_text=True)
    assert submit(client, code_at(secret_of(moderator), current_step())).status_code == 302
    page = client.get(f"/diary/{diary.id}")
    assert page.status_code == 200 and "個人情報" in page.get_data(as_text=True)
    assert f"/diary/{diary.id}" in client.get("/search?q=盆踊り").get_data(as_text=True)


def test_members_are_not_asked_and_get_404_on_privileged_pages(client, user):
    response = password_step(client, user)
    assert response.headers["Location"] == "/"
    assert client.get("/auth/second-factor").status_code == 302
    for page in ("/moderation/", "/staff/surveys/", "/admin/pages"):
        assert client.get(page).status_code == 404, page


def test_passing_is_per_account(app, client, make):
    """A mark left in the session by one account does not open pages for the next one."""
    first = make.user(role=RoleCode.MODERATOR)
    second = make.user(role=RoleCode.MODERATOR)
    password_step(client, first)
    assert submit(client, code_at(secret_of(first), current_step())).status_code == 302
    assert client.get("/moderation/").status_code == 200
    password_step(client, second)  # another login in the same browser, no logout
    assert client.get("/moderation/").status_code == 302


# --- enrolment ---------------------------------------------------------------------------------


def test_enrolment_shows_seed_and_uri_and_a_current_code_turns_it_on(app, client, make, app_log):
    admin = unenrolled(make, RoleCode.ADMIN)
    password_step(client, admin)
    page = client.get("/auth/second-factor/enrol?next=/admin/pages")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in html
    assert 'inputmode="numeric"' in html
    assert '<label for="code">' in html
    grouped = re.search(r'id="totp-secret" lang="en"><code>([A-Z2-7 ]+)</code>', html)
    assert grouped is not None
    groups = grouped.group(1).split(" ")
    assert all(len(g) == 4 for g in groups)
    secret = "".join(groups)
    uri = unquote(re.search(r'id="totp-uri"[^>]*>([^<]+)<', html).group(1)).replace("&amp;", "&")
    assert uri.startswith("otpauth://totp/Sankaku:")
    assert f"secret={secret}" in uri
    assert "issuer=Sankaku" in uri
    # reloading shows the same pending seed (an app already scanned keeps working)
    again = client.get("/auth/second-factor/enrol").get_data(as_text=True)
    assert grouped.group(1) in again
    assert client.get("/admin/pages").status_code == 302  # not on yet
    done = submit(
        client, pyotp.TOTP(secret).now(), "/auth/second-factor/enrol", next_url="/admin/pages"
    )
    assert done.status_code == 302
    assert done.headers["Location"] == "/admin/pages"
    assert client.get("/admin/pages").status_code == 200
    credential = db.session.get(TotpCredential, admin.id)
    assert credential.confirmed_at is not None
    assert f"second factor enrolled user={admin.id} method=totp" in app_log.messages
    # an enrolled account is not shown its seed again
    assert client.get("/auth/second-factor/enrol").status_code == 302


def test_seed_is_160_bits_from_the_csprng_and_stored_sealed(app, make):
    user = make.user()
    seeds = set()
    for _ in range(20):
        existing = db.session.get(TotpCredential, user.id)
        if existing is not None:
            db.session.delete(existing)
            db.session.flush()
        secret = start_enrolment(user)
        db.session.flush()
        seeds.add(secret)
        assert len(base64.b32decode(secret)) * 8 >= 160
        stored = db.session.get(TotpCredential, user.id)
        assert secret.encode() not in bytes(stored.secret_ciphertext)
        assert open_secret(stored) == secret
    assert len(seeds) == 20
    # the sealed seed is bound to its account: moved to another account it does not open
    other = make.user()
    moved = TotpCredential(user_id=other.id, secret_ciphertext=stored.secret_ciphertext)
    with pytest.raises(SecondFactorError):
        open_secret(moved)


def test_enrolment_wrong_code_is_refused_with_a_message(app, client, make, app_log):
    admin = unenrolled(make, RoleCode.ADMIN)
    password_step(client, admin)
    client.get("/auth/second-factor/enrol")
    secret = secret_of(admin)
    wrong = code_at(secret, current_step() + 5)
    response = submit(client, wrong, "/auth/second-factor/enrol")
    assert response.status_code == 401
    assert "コードが正しくありません" in response.get_data(as_text=True)
    assert db.session.get(TotpCredential, admin.id).confirmed_at is None
    assert any(
        m.startswith(f"second factor failed user={admin.id} method=totp step=enrol reason=wrong")
        for m in app_log.messages
    )
    assert not any(wrong in m for m in app_log.messages)


def test_enrolment_cannot_replace_a_bound_card_with_the_password_alone(client, make):
    admin = unenrolled(make, RoleCode.ADMIN)
    db.session.add(
        CertificateBinding(
            cert_key="k" * 64,
            user_id=admin.id,
            serial_hint="1234",
            not_after=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        )
    )
    db.session.commit()
    password_step(client, admin)
    response = client.get("/auth/second-factor/enrol")
    assert urlsplit(response.headers["Location"]).path == "/auth/second-factor"
    page = client.get("/auth/second-factor?next=/admin/pages").get_data(as_text=True)
    assert "/auth/jpki?next=/admin/pages" in page  # the card step-up is offered
    assert db.session.get(TotpCredential, admin.id) is None


# --- codes -------------------------------------------------------------------------------------


def test_wrong_code_is_refused_with_a_message_and_logged(client, make, app_log):
    moderator = make.user(role=RoleCode.MODERATOR, locale="en")
    password_step(client, moderator)
    secret = secret_of(moderator)
    wrong = code_at(secret, current_step() - 10)
    response = submit(client, wrong)
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "That code is not correct" in html  # the member's own language
    assert 'aria-invalid="true"' in html
    assert client.get("/moderation/").status_code == 302
    malformed = submit(client, "12ab")
    assert "Enter the 6-digit code" in malformed.get_data(as_text=True)
    assert submit(client, "").status_code == 401
    failures = [m for m in app_log.messages if m.startswith("second factor failed")]
    assert failures[0] == (
        f"second factor failed user={moderator.id} method=totp step=login reason=wrong"
    )
    assert not any(wrong in m for m in app_log.messages)


def test_a_replayed_code_is_refused(app, client, make, app_log):
    moderator = make.user(role=RoleCode.MODERATOR)
    secret = secret_of(moderator)
    code = code_at(secret, current_step() + 1)  # valid for the next minute or so
    password_step(client, moderator)
    assert submit(client, code).status_code == 302
    assert f"second factor ok user={moderator.id} method=totp" in app_log.messages
    other = app.test_client()
    password_step(other, moderator)
    replay = submit(other, code)
    assert replay.status_code == 401
    assert "すでに使われています" in replay.get_data(as_text=True)
    assert other.get("/moderation/").status_code == 302
    assert any(m.endswith("reason=replay") for m in app_log.messages)


def test_an_earlier_step_after_a_later_one_is_refused(app, make):
    moderator = make.user(role=RoleCode.MODERATOR)
    secret = secret_of(moderator)
    now = dt.datetime(2026, 12, 1, 9, 0, 15, tzinfo=dt.UTC)
    step = int(now.timestamp()) // 30
    verify_code(moderator, code_at(secret, step), now)
    with pytest.raises(SecondFactorError) as err:
        verify_code(moderator, code_at(secret, step - 1), now)
    assert err.value.reason == "replay"
    verify_code(moderator, code_at(secret, step + 1), now)  # the next code still works


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_one_step_of_drift_is_accepted_two_are_not(app, make, offset, accepted):
    moderator = make.user(role=RoleCode.STAFF)
    secret = secret_of(moderator)
    now = dt.datetime(2026, 12, 1, 9, 0, 15, tzinfo=dt.UTC)
    code = code_at(secret, int(now.timestamp()) // 30 + offset)
    if accepted:
        verify_code(moderator, code, now)
    else:
        with pytest.raises(SecondFactorError) as err:
            verify_code(moderator, code, now)
        assert err.value.reason == "wrong"


@pytest.mark.parametrize(("offset", "status"), [(1, 302), (3, 401), (-3, 401)])
def test_drift_through_the_page(client, make, offset, status):
    staff = make.user(role=RoleCode.STAFF)
    password_step(client, staff)
    assert submit(client, code_at(secret_of(staff), current_step() + offset)).status_code == status


def test_enrolment_confirmation_uses_the_same_window(app, make):
    admin = unenrolled(make, RoleCode.ADMIN)
    secret = start_enrolment(admin)
    db.session.commit()
    now = dt.datetime(2026, 12, 1, 9, 0, 15, tzinfo=dt.UTC)
    with pytest.raises(SecondFactorError):
        confirm_enrolment(admin, code_at(secret, int(now.timestamp()) // 30 + 2), now)
    confirm_enrolment(admin, code_at(secret, int(now.timestamp()) // 30 - 1), now)
    assert db.session.get(TotpCredential, admin.id).confirmed_at == now


def test_full_width_digits_and_spaces_are_accepted(app, make):
    staff = make.user(role=RoleCode.STAFF)
    now = dt.datetime(2026, 12, 1, 9, 0, 15, tzinfo=dt.UTC)
    code = code_at(secret_of(staff), int(now.timestamp()) // 30)
    typed = (code[:3] + " " + code[3:]).translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    )
    verify_code(staff, typed, now)


# --- the session -------------------------------------------------------------------------------


def test_passing_rotates_the_session_id_and_records_it(app, client, make):
    admin = make.user(role=RoleCode.ADMIN)
    password_step(client, admin)
    before = cookie(client, app)
    assert submit(client, code_at(secret_of(admin), current_step())).status_code == 302
    after = cookie(client, app)
    assert after and after != before
    old = app.test_client()
    old.set_cookie(app.config["SESSION_COOKIE_NAME"], before)
    assert old.get("/admin/pages").status_code == 302  # the old id is anonymous now
    assert urlsplit(old.get("/admin/pages").headers["Location"]).path == "/auth/login"
    with client.session_transaction() as sess:
        mark = sess["second_factor"]
    assert mark["user_id"] == admin.id
    assert mark["method"] == "totp"
    assert dt.datetime.fromisoformat(mark["at"])


def test_jpki_step_up_with_the_bound_card_counts(app, client, make):
    """The card path: a JPKI check in this session with a card bound to this account (the
    JPKI flow itself, with the emulated card, is tested in tests/auth/test_jpki_*)."""
    staff = make.user(role=RoleCode.STAFF)
    db.session.add(
        CertificateBinding(
            cert_key="c" * 64,
            user_id=staff.id,
            serial_hint="1234",
            not_after=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        )
    )
    db.session.commit()
    password_step(client, staff)
    assert client.get("/staff/surveys/").status_code == 302
    with client.session_transaction() as sess:
        sess["jpki_verified_at"] = dt.datetime.now(dt.UTC).isoformat()
        sess["jpki_cert_key"] = "d" * 64  # a card that is not this account's
    assert client.get("/staff/surveys/").status_code == 302
    with client.session_transaction() as sess:
        sess["jpki_cert_key"] = "c" * 64
    assert client.get("/staff/surveys/").status_code == 200


# --- recovery ----------------------------------------------------------------------------------


def test_reset_cli_clears_enrolment_ends_sessions_and_is_logged(app, client, make, app_log):
    admin = make.user(role=RoleCode.ADMIN)
    password_step(client, admin)
    submit(client, code_at(secret_of(admin), current_step()))
    assert client.get("/admin/pages").status_code == 200
    result = app.test_cli_runner().invoke(args=["admin", "reset-2fa", admin.email.upper()])
    assert result.exit_code == 0, result.output
    assert '"authenticator_removed": true' in result.output
    db.session.rollback()
    assert db.session.get(TotpCredential, admin.id) is None
    assert f"second factor reset user={admin.id} method=cli had_totp=yes" in app_log.messages
    # the session that passed with the old authenticator is gone; the next login enrols anew
    assert urlsplit(client.get("/admin/pages").headers["Location"]).path == "/auth/login"
    password_step(client, admin)
    answer = client.get("/auth/second-factor")
    assert urlsplit(answer.headers["Location"]).path == "/auth/second-factor/enrol"
    missing = app.test_cli_runner().invoke(args=["admin", "reset-2fa", "nobody@example.jp"])
    assert missing.exit_code == 1


# --- rate limit --------------------------------------------------------------------------------


@pytest.fixture
def limited(app_config):
    app_config.update(RATELIMIT_ENABLED=True, SECOND_FACTOR_LIMIT_PER_ACCOUNT="3 per minute")
    return app_config


def test_wrong_codes_are_rate_limited_per_account(limited, app, client, make):
    moderator = make.user(role=RoleCode.MODERATOR)
    password_step(client, moderator)
    secret = secret_of(moderator)
    wrong = code_at(secret, current_step() - 20)
    codes = [submit(client, wrong).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    assert submit(client, code_at(secret, current_step())).status_code == 429  # even a right one
    # the limit is the account's, not the browser's
    other = app.test_client()
    password_step(other, moderator)
    assert submit(other, code_at(secret, current_step())).status_code == 429
    # another account is not locked by this one
    staff = make.user(role=RoleCode.STAFF)
    third = app.test_client()
    password_step(third, staff)
    assert submit(third, code_at(secret_of(staff), current_step())).status_code == 302


# --- pages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("locale", "heading"), [("ja", "本人確認"), ("en", "Confirm it is you")])
def test_code_page_in_both_languages(client, make, locale, heading):
    moderator = make.user(role=RoleCode.MODERATOR, locale=locale)
    password_step(client, moderator)
    html = client.get("/auth/second-factor", headers={"Accept-Language": locale}).get_data(
        as_text=True
    )
    assert f"<h1>{heading}</h1>" in html
    assert 'autocomplete="one-time-code"' in html
    assert 'inputmode="numeric"' in html
    assert 'name="code"' in html


def test_next_is_relative_only(client, make):
    moderator = make.user(role=RoleCode.MODERATOR)
    password_step(client, moderator)
    response = submit(
        client, code_at(secret_of(moderator), current_step()), next_url="https://evil.example/"
    )
    assert response.headers["Location"] == "/"


def test_the_login_page_sends_privileged_accounts_to_the_code_page_with_next(client, make):
    staff = make.user(role=RoleCode.STAFF)
    response = client.post(
        "/auth/login",
        data={"email": staff.email, "password": PASSWORD, "next": "/staff/surveys/"},
    )
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/second-factor"
    assert parse_qs(location.query)["next"] == ["/staff/surveys/"]
    done = submit(client, code_at(secret_of(staff), current_step()), next_url="/staff/surveys/")
    assert done.headers["Location"] == "/staff/surveys/"


def test_factory_gives_privileged_accounts_an_enrolled_authenticator(app, make):
    assert db.session.get(TotpCredential, make.user(role=RoleCode.ADMIN).id).confirmed_at
    assert db.session.get(TotpCredential, make.user().id) is None
    assert len(db.session.execute(select(TotpCredential)).scalars().all()) == 1


# --- the card as the second factor (the real JPKI step-up with the test PKI's card) ---------------


@pytest.fixture
def card_config(app_config, pki):
    from app.auth.jpki.verify import clear_store_cache

    clear_store_cache()
    app_config.update(
        JPKI_TRUST_DIR=pki.trust_dir,
        JPKI_CRL_DIR=pki.crl_dir,
        JPKI_REVOCATION="fail-closed",
        SERVER_BASE_URL="http://localhost",
    )
    return app_config


def test_a_jpki_step_up_with_the_bound_card_passes_and_rotates(
    card_config, app, client, login_as, make, pki, app_log
):
    from tests.auth.test_jpki_web import answer, bind, post_answer, start

    staff = make.user(role=RoleCode.STAFF)
    bind(client, login_as, staff, pki)  # the card "taro" is now this account's
    password_step(client, staff)
    answer_page = client.get("/staff/surveys/")
    assert urlsplit(answer_page.headers["Location"]).path == "/auth/second-factor"
    page = client.get(answer_page.headers["Location"]).get_data(as_text=True)
    assert "/auth/jpki?next=/staff/surveys/" in page
    before = cookie(client, app)
    code = start(client)  # a step-up: this member is signed in
    assert post_answer(client, answer(client, code, pki)).get_json() == {"ok": True}
    assert client.post("/auth/jpki/complete").status_code == 302
    assert cookie(client, app) != before
    assert client.get("/staff/surveys/").status_code == 200
    assert f"login ok user={staff.id} method=jpki" in app_log.messages
