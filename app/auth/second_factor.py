"""The second factor for privileged accounts (A08): TOTP or the JPKI card.

Admins, staff and NPO moderators pass a second factor after the password before the
privileged pages open to them. Either an authenticator app (TOTP, RFC 6238: 30-second steps,
6 digits, one step of clock drift either way) or, when the account has a bound My Number Card,
the existing JPKI step-up counts.

- Seeds come from the operating system's CSPRNG (`pyotp.random_base32`, which draws from
  `secrets`), 32 base32 characters = 160 bits, and are stored sealed with AES-GCM under a key
  derived from the app's secret key, bound to the account (changing SECRET_KEY therefore means
  re-enrolling: `flask admin reset-2fa`).
- Each code works once: the time-step of the last accepted code is stored, and only a later
  step is accepted, with an atomic compare-and-set so two requests cannot both spend a code.
- Passing records who passed, how and when in the server-side session, and the caller rotates
  the session id.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import re
from typing import Any

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import abort, current_app, redirect, request, session, url_for
from sqlalchemy import delete, or_, select, update

from app.auth.models import CertificateBinding, TotpCredential, User, is_privileged
from app.db import utcnow
from app.extensions import db
from app.i18n import _

SECRET_CHARS = 32  # base32 characters: 32 x 5 bits = 160 bits (RFC 4226 recommends >= 160)
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1
ISSUER = "Sankaku"
SESSION_KEY = "second_factor"
_NONCE_BYTES = 12
_CODE = re.compile(r"[0-9]{6}")


class SecondFactorError(Exception):
    """A code was refused; `reason` is a stable code for the log, `message` for the member."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


# --- seeds ------------------------------------------------------------------------------------


def new_secret() -> str:
    """A fresh base32 seed from the CSPRNG (160 bits)."""
    return pyotp.random_base32(length=SECRET_CHARS)


def _seal_key() -> bytes:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"sankaku/totp-seed/v1"
    ).derive(secret)


def _aad(user_id: int) -> bytes:
    return f"totp_credentials|{user_id}|secret".encode()


def seal_secret(user_id: int, secret: str) -> bytes:
    """Encrypt a seed for one account (the account id is bound as associated data)."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(_seal_key()).encrypt(nonce, secret.encode(), _aad(user_id))


def open_secret(credential: TotpCredential) -> str:
    """The seed of a stored credential. Raises SecondFactorError if it does not decrypt."""
    blob = bytes(credential.secret_ciphertext)
    try:
        plain = AESGCM(_seal_key()).decrypt(
            blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(credential.user_id)
        )
    except (InvalidTag, ValueError) as err:
        raise SecondFactorError(
            "undecryptable",
            _("Your authenticator cannot be checked. Ask an administrator to reset it."),
        ) from err
    return plain.decode()


def group_secret(secret: str) -> str:
    """The seed in groups of four characters, for typing into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads (issuer and account named)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=ISSUER
    )


# --- credentials ------------------------------------------------------------------------------


def credential_for(user: User) -> TotpCredential | None:
    return db.session.get(TotpCredential, user.id)


def totp_enabled(user: User) -> bool:
    credential = credential_for(user)
    return credential is not None and credential.confirmed_at is not None


def has_bound_card(user: User) -> bool:
    return (
        db.session.execute(
            select(CertificateBinding.id).where(CertificateBinding.user_id == user.id).limit(1)
        ).first()
        is not None
    )


def start_enrolment(user: User) -> str:
    """The seed to show on the enrolment page: the pending one, or a new one.

    Raises SecondFactorError when the account already has a confirmed authenticator.
    """
    credential = credential_for(user)
    if credential is not None and credential.confirmed_at is not None:
        raise SecondFactorError(
            "already_enrolled", _("An authenticator app is already set up for this account.")
        )
    if credential is not None:
        return open_secret(credential)
    secret = new_secret()
    db.session.add(TotpCredential(user_id=user.id, secret_ciphertext=seal_secret(user.id, secret)))
    return secret


def _clean_code(code: str) -> str:
    cleaned = "".join((code or "").split()).translate(_FULLWIDTH_DIGITS)
    if not _CODE.fullmatch(cleaned):
        raise SecondFactorError("malformed", _("Enter the 6-digit code from your app."))
    return cleaned


_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time-step within the drift window whose code is `code`, if any."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate, so the time taken does not tell which one matched.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _spend(credential: TotpCredential, code: str, now: dt.datetime) -> None:
    """Accept `code` once: its step must be later than the last accepted one."""
    step = _matching_step(open_secret(credential), code, now)
    if step is None:
        raise SecondFactorError(
            "wrong", _("That code is not correct. Check the time on your phone and try again.")
        )
    spent = db.session.execute(
        update(TotpCredential)
        .where(
            TotpCredential.user_id == credential.user_id,
            or_(TotpCredential.last_step.is_(None), TotpCredential.last_step < step),
        )
        .values(last_step=step, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(spent.rowcount or 0) != 1:  # type: ignore[attr-defined]
        raise SecondFactorError(
            "replay", _("That code has already been used. Wait for the next code and enter it.")
        )
    db.session.refresh(credential)


def confirm_enrolment(user: User, code: str, now: dt.datetime | None = None) -> None:
    """Turn the pending authenticator on once a current code from it is entered.

    Raises SecondFactorError for a missing enrolment, a malformed or wrong code.
    """
    credential = credential_for(user)
    if credential is None:
        raise SecondFactorError("not_enrolled", _("Start the set-up again."))
    if credential.confirmed_at is not None:
        raise SecondFactorError(
            "already_enrolled", _("An authenticator app is already set up for this account.")
        )
    when = now or utcnow()
    _spend(credential, _clean_code(code), when)
    credential.confirmed_at = when


def verify_code(user: User, code: str, now: dt.datetime | None = None) -> None:
    """Check a login code of an enrolled account, once.

    Raises SecondFactorError: not enrolled, malformed, wrong, or replayed.
    """
    credential = credential_for(user)
    if credential is None or credential.confirmed_at is None:
        raise SecondFactorError("not_enrolled", _("No authenticator app is set up yet."))
    _spend(credential, _clean_code(code), now or utcnow())


def reset_second_factor(user: User) -> bool:
    """Remove an account's authenticator (recovery); it enrols again at its next login.

    The account's sessions end too, so a session that passed with the old authenticator
    cannot keep its privileges. Returns whether there was an authenticator.
    """
    from app.sessions import end_user_sessions

    result = db.session.execute(delete(TotpCredential).where(TotpCredential.user_id == user.id))
    end_user_sessions(user.id)
    return int(result.rowcount or 0) > 0  # type: ignore[attr-defined]


# --- this session -----------------------------------------------------------------------------


def mark_passed(user: User, method: str) -> None:
    """Record in the session that `user` passed the second factor (the caller rotates the id)."""
    session[SESSION_KEY] = {"user_id": user.id, "method": method, "at": utcnow().isoformat()}


def passed(user: Any) -> bool:
    """Whether this session passed a second factor for `user`: a TOTP code, or a JPKI check
    with a card bound to this account (login or step-up)."""
    mark = session.get(SESSION_KEY)
    if isinstance(mark, dict) and mark.get("user_id") == getattr(user, "id", None):
        return True
    from app.auth.jpki_web import SESSION_CERT_KEY, verified_recently

    key = session.get(SESSION_CERT_KEY)
    if not isinstance(key, str) or not verified_recently(
        int(current_app.config["SESSION_ABSOLUTE_HOURS"]) * 60
    ):
        return False
    return (
        db.session.execute(
            select(CertificateBinding.id).where(
                CertificateBinding.cert_key == key, CertificateBinding.user_id == user.id
            )
        ).first()
        is not None
    )


def needs_second_factor(user: Any) -> bool:
    """A signed-in privileged account that has not passed the second factor in this session."""
    signed_in = bool(getattr(user, "is_authenticated", False))
    return signed_in and is_privileged(user) and not passed(user)


def second_factor_url(next_url: str | None = None) -> str:
    return url_for("auth.second_factor", next=next_url or None)


def require_second_factor(user: Any) -> None:
    """Privileged pages call this: without a passed second factor, go to its page first."""
    if needs_second_factor(user):
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        abort(redirect(second_factor_url(target)))
