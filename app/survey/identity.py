"""Who the monitor in this browser is: the JPKI certificate verified in this session.

The JPKI login (`app.auth.jpki_web`) verifies the card. `remember_certificate()` is the hook it
(or `/monitors/jpki-done`, which reads this browser's completed challenge) calls with the
verified certificate; the monitor bound to it, if any, becomes this session's monitor for
JPKI_STEP_UP_MINUTES. The session stores the pseudonym and certificate facts, never personal data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app, session
from sqlalchemy import select

from app.db import utcnow
from app.extensions import db
from app.survey.answering import Respondent
from app.survey.models import Monitor
from app.survey.services import CertIdentity, monitor_for_certificate

SESSION_MONITOR = "survey_monitor"
SESSION_CERT = "survey_certificate"
SESSION_AT = "survey_verified_at"


def remember_certificate(cert: CertIdentity) -> Monitor | None:
    """Record a certificate verified by JPKI in this session; return its monitor, if bound."""
    session[SESSION_CERT] = cert.as_json()
    session[SESSION_AT] = utcnow().isoformat()
    monitor = monitor_for_certificate(cert.anchor, cert.serial, cert.spki_sha256)
    if monitor is not None:
        session[SESSION_MONITOR] = monitor.pseudonym
    else:
        session.pop(SESSION_MONITOR, None)
    return monitor


def certificate_from_recent_challenge() -> CertIdentity | None:
    """The certificate of this browser's JPKI challenge completed within the step-up window."""
    from app.auth.jpki_web import SESSION_BROWSER_KEY
    from app.auth.models import JpkiChallenge

    key = session.get(SESSION_BROWSER_KEY)
    if not isinstance(key, str):
        return None
    since = utcnow() - _window()
    row = db.session.execute(
        select(JpkiChallenge)
        .where(
            JpkiChallenge.browser_key == key,
            JpkiChallenge.completed_at.is_not(None),
            JpkiChallenge.completed_at >= since,
        )
        .order_by(JpkiChallenge.completed_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None or not row.cert_serial or row.cert_not_after is None:
        return None
    return CertIdentity(
        row.cert_issuer_fp, row.cert_serial, row.cert_spki_sha256, row.cert_not_after
    )


def _window() -> dt.timedelta:
    return dt.timedelta(minutes=int(current_app.config["JPKI_STEP_UP_MINUTES"]))


def _fresh() -> bool:
    raw = session.get(SESSION_AT)
    if not isinstance(raw, str):
        return False
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        return False
    return utcnow() - when <= _window()


def verified_certificate() -> CertIdentity | None:
    """The certificate verified in this session within the step-up window, if any."""
    data: Any = session.get(SESSION_CERT)
    if not data or not _fresh():
        return None
    try:
        return CertIdentity.from_json(data)
    except (KeyError, ValueError):
        return None


def current_monitor() -> Monitor | None:
    """This session's monitor (JPKI-verified within the step-up window), or None."""
    pseudonym = session.get(SESSION_MONITOR)
    if not isinstance(pseudonym, str) or not _fresh():
        return None
    monitor = db.session.execute(
        select(Monitor).where(Monitor.pseudonym == pseudonym)
    ).scalar_one_or_none()
    if monitor is None or monitor.status != "active":
        return None
    return monitor


def member_for_cert(cert: CertIdentity) -> int | None:
    """The SNS member (user id) this certificate is bound to (the JPKI binding of accounts)."""
    from app.auth.jpki_web import cert_key
    from app.auth.models import CertificateBinding

    key = cert_key(cert.anchor, cert.serial, cert.spki_sha256)
    return db.session.execute(
        select(CertificateBinding.user_id).where(CertificateBinding.cert_key == key)
    ).scalar_one_or_none()


def current_respondent() -> Respondent | None:
    """Who may answer in this session: the monitor of the verified card and/or the SNS member
    it is bound to (opted in and logged in here). None without a fresh card check."""
    from flask_login import current_user

    from app.survey.recruitment import is_opted_in

    monitor = current_monitor()
    cert = verified_certificate()
    member_id = member_for_cert(cert) if cert is not None else None
    opted_in = False
    if (
        member_id is not None
        and current_user.is_authenticated
        and current_user.id == member_id
        and current_user.is_active
    ):
        opted_in = is_opted_in(member_id)
    if monitor is None and not opted_in:
        return None
    return Respondent(monitor=monitor, member_id=member_id, member_opted_in=opted_in)


def forget() -> None:
    for key in (SESSION_MONITOR, SESSION_CERT, SESSION_AT):
        session.pop(key, None)


def monitor_for_cert(cert: CertIdentity) -> Monitor | None:
    return monitor_for_certificate(cert.anchor, cert.serial, cert.spki_sha256)
