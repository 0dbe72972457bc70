"""Test support for the second factor (A08): enrolled authenticators and fresh codes.

Privileged accounts need a TOTP code after the password. The factories give them an enrolled
authenticator, and `login_as` (tests/conftest.py) and the browser helpers pass the code step
with a code computed here by pyotp, as a phone would.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
from sqlalchemy import update

from app.auth.models import TotpCredential, is_privileged
from app.auth.second_factor import new_secret, open_secret, seal_secret
from app.db import utcnow
from app.extensions import db

SECOND_FACTOR_PATH = "/auth/second-factor"


def enrol_totp(user: Any) -> str:
    """Give `user` a confirmed authenticator (replacing any); returns its base32 seed.

    The caller commits."""
    secret = new_secret()
    db.session.execute(TotpCredential.__table__.delete().where(TotpCredential.user_id == user.id))
    db.session.add(
        TotpCredential(
            user_id=user.id,
            secret_ciphertext=seal_secret(user.id, secret),
            confirmed_at=utcnow(),
        )
    )
    return secret


def ensure_totp(user_id: int) -> str:
    """The seed of the account's confirmed authenticator, enrolling one if it has none."""
    db.session.rollback()  # see what requests committed
    credential = db.session.get(TotpCredential, user_id)
    if credential is not None and credential.confirmed_at is not None:
        return open_secret(credential)
    from app.auth.models import User

    user = db.session.get(User, user_id)
    assert user is not None
    secret = enrol_totp(user)
    db.session.commit()
    return secret


def fresh_code(user_id: int) -> str:
    """A code the server accepts now: the current step, else the next one (drift +1).

    A test that logs one account in more often than that within 30 seconds would have to
    wait for the next step; instead the stored last step is cleared, as if the time had passed.
    """
    secret = ensure_totp(user_id)
    credential = db.session.get(TotpCredential, user_id)
    assert credential is not None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(time.time())
    last = credential.last_step
    for step in (now, now + 1):
        if last is None or step > last:
            return totp.generate_otp(step)
    db.session.execute(
        update(TotpCredential).where(TotpCredential.user_id == user_id).values(last_step=None)
    )
    db.session.commit()
    return totp.generate_otp(now)


def fresh_code_for_email(email: str) -> str:
    """`fresh_code` for the account with this address (inside the site's app context)."""
    from app.auth.services import find_user_by_email

    user = find_user_by_email(email)
    assert user is not None, email
    return fresh_code(user.id)


def needs_code(location: str) -> bool:
    return urlsplit(location).path == SECOND_FACTOR_PATH


def pass_second_factor(client: Any, user: Any, location: str) -> Any:
    """Post a fresh code to the second-factor page a login redirected to; returns the answer."""
    query = parse_qs(urlsplit(location).query)
    response = client.post(
        SECOND_FACTOR_PATH,
        data={"code": fresh_code(user.id), "next": query.get("next", [""])[0]},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def log_in(client: Any, user: Any, password: str) -> Any:
    """Log in through the real forms, passing the second factor when the site asks for it."""
    response = client.post("/auth/login", data={"email": user.email, "password": password})
    if response.status_code == 302 and needs_code(response.headers["Location"]):
        response = pass_second_factor(client, user, response.headers["Location"])
    return response


def browser_second_factor(page: Any, email: str, app: Any = None) -> None:
    """In a real browser that a login sent to the second-factor page: type a fresh code (made
    in `app`'s context, else the current one, as the member's phone would) and confirm.
    Elsewhere it does nothing."""
    page.wait_for_load_state()
    if urlsplit(page.url).path != SECOND_FACTOR_PATH:
        return
    if app is None:
        code = fresh_code_for_email(email)
    else:
        with app.app_context():
            code = fresh_code_for_email(email)
            db.session.remove()
    page.locator("input[name=code]").fill(code)
    page.locator("form[action$='/auth/second-factor'] button[type=submit]").click()
    page.wait_for_load_state()


__all__ = [
    "browser_second_factor",
    "enrol_totp",
    "ensure_totp",
    "fresh_code",
    "fresh_code_for_email",
    "is_privileged",
    "log_in",
    "needs_code",
    "pass_second_factor",
]
