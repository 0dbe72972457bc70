"""The web side of the JPKI login: challenges bound to a browser session, the card client's
answer, certificate bindings and the step-up check.

The card client (`flask jpki card login URL CODE` or `sankaku-card`) fetches the challenge by
its short code, has the card sign it and posts the answer; that post marks the challenge
verified exactly once. The browser that asked for the challenge then completes it: the member
bound to the certificate is logged in on a new session id, or the verification counts as a
step-up for the member already logged in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app, redirect, request, session, url_for
from sqlalchemy import select, update

from app.auth.jpki.login import Challenge, normalize_code, verify_login_response
from app.auth.jpki.login import new_challenge as make_challenge
from app.auth.jpki.reasons import Reason
from app.auth.jpki.settings import JpkiSettings
from app.auth.jpki.verify import VerificationResult
from app.auth.models import CertificateBinding, JpkiChallenge, User
from app.db import utcnow
from app.extensions import db
from app.logging_setup import log_event

F = TypeVar("F", bound=Callable[..., Any])

SESSION_BROWSER_KEY = "jpki_browser_key"
SESSION_CHALLENGE = "jpki_challenge_id"
SESSION_VERIFIED_AT = "jpki_verified_at"
SESSION_CERT_KEY = "jpki_cert_key"
SESSION_UNBOUND = "jpki_unbound"  # a verified certificate waiting to be bound to this member


class JpkiFlowError(Exception):
    """The flow cannot continue; `reason` is a stable code, `message` for the resident."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def jpki_settings() -> JpkiSettings:
    return JpkiSettings.from_mapping(current_app.config)


def site_origin() -> str:
    """The site's public origin (scheme://host[:port]) from SERVER_BASE_URL.

    Never from the Host header, which the client controls.
    """
    parts = urlsplit(str(current_app.config["SERVER_BASE_URL"]))
    scheme = parts.scheme or "https"
    host = (parts.hostname or "localhost").lower()
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def cert_key(anchor_fingerprint: str, serial: str, spki_sha256: str) -> str:
    """HMAC index of one card identity (A12): unique per certificate, opaque without the key."""
    key = hashlib.sha256(
        b"sankaku-jpki-binding-index\x00" + str(current_app.config["SECRET_KEY"]).encode()
    ).digest()
    message = f"{anchor_fingerprint.lower()}|{serial.upper()}|{spki_sha256.lower()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def browser_key() -> str:
    """A secret kept in this browser's server-side session; challenges are bound to it."""
    value = session.get(SESSION_BROWSER_KEY)
    if not isinstance(value, str):
        value = secrets.token_urlsafe(32)
        session[SESSION_BROWSER_KEY] = value
    return value


def start_challenge(purpose: str, next_url: str) -> JpkiChallenge:
    """Create a challenge for this browser (A10: 32 random bytes, single use, ≤ 5 minutes)."""
    ttl = dt.timedelta(seconds=int(current_app.config["JPKI_CHALLENGE_SECONDS"]))
    for _attempt in range(5):
        fresh = make_challenge(site_origin(), now=utcnow(), ttl=ttl)
        if db.session.execute(
            select(JpkiChallenge.id).where(JpkiChallenge.code == fresh.code)
        ).first():
            continue  # a clash of the 8-character code: draw again
        row = JpkiChallenge(
            id=fresh.challenge_id,
            code=fresh.code,
            nonce=fresh.nonce,
            origin=fresh.origin,
            purpose=purpose,
            browser_key=browser_key(),
            next_url=next_url[:500],
            created_at=fresh.created_at,
            expires_at=fresh.expires_at,
        )
        db.session.add(row)
        session[SESSION_CHALLENGE] = row.id
        return row
    raise JpkiFlowError("challenge_unknown")


def challenge_by_code(code: str) -> JpkiChallenge | None:
    """The open challenge a resident's code names (for the card client)."""
    row = db.session.execute(
        select(JpkiChallenge).where(JpkiChallenge.code == normalize_code(code))
    ).scalar_one_or_none()
    if row is None or row.expires_at <= utcnow() or row.verified_at is not None:
        return None
    return row


def _as_challenge(row: JpkiChallenge) -> Challenge:
    return Challenge(
        challenge_id=row.id,
        nonce=bytes(row.nonce),
        origin=row.origin,
        code=row.code,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.verified_at,
    )


def answer_challenge(challenge_id: str, certificate: bytes, signature: bytes) -> VerificationResult:
    """Verify the card client's answer and consume the challenge atomically.

    A refused answer leaves the challenge open (the resident may retry with the right card)
    and records the reason so the waiting browser can explain it.
    """
    row = db.session.get(JpkiChallenge, challenge_id)
    now = utcnow()
    result = verify_login_response(
        _as_challenge(row) if row else None, certificate, signature, jpki_settings(), now=now
    )
    if not result.ok:
        if row is not None and row.verified_at is None and result.reason:
            row.failure = result.reason
        return result
    not_after = result.certificate.not_valid_after_utc if result.certificate else None
    updated = db.session.execute(
        update(JpkiChallenge)
        .where(JpkiChallenge.id == challenge_id, JpkiChallenge.verified_at.is_(None))
        .values(
            verified_at=now,
            failure="",
            cert_issuer_fp=result.anchor_fingerprint or "",
            cert_serial=result.serial,
            cert_spki_sha256=result.spki_sha256 or "",
            cert_not_after=not_after,
            revocation_unknown=result.revocation_unknown,
        )
        .execution_options(synchronize_session=False)
    )
    if int(updated.rowcount or 0) != 1:  # type: ignore[attr-defined]
        return result.refused(Reason.CHALLENGE_USED)  # a concurrent answer won the race
    log_event(
        "auth.jpki_answer",
        "success",
        "jpki verified challenge=%s revocation_unknown=%s",
        challenge_id[:8],
        result.revocation_unknown,
        obj=f"jpki_challenge:{challenge_id[:8]}",
        method="jpki",
        revocation_unknown=bool(result.revocation_unknown),
    )
    return result


@dataclass
class PollState:
    state: str  # pending | verified | failed | expired | none
    reason: str = ""


def poll_state() -> PollState:
    """What the browser's own challenge is waiting for (read only)."""
    challenge_id = session.get(SESSION_CHALLENGE)
    if not isinstance(challenge_id, str):
        return PollState("none")
    row = db.session.get(JpkiChallenge, challenge_id)
    if row is None or row.browser_key != session.get(SESSION_BROWSER_KEY):
        return PollState("none")
    if row.verified_at is not None:
        return PollState("verified")
    if row.expires_at <= utcnow():
        return PollState("expired")
    if row.failure:
        return PollState("failed", row.failure)
    return PollState("pending")


@dataclass
class Completion:
    user: User | None  # the member bound to the certificate, if any
    cert_key: str
    serial_hint: str
    not_after: dt.datetime | None
    next_url: str
    purpose: str


def complete_challenge() -> Completion:
    """Finish this browser's verified challenge, once. Raises JpkiFlowError otherwise."""
    challenge_id = session.get(SESSION_CHALLENGE)
    key = session.get(SESSION_BROWSER_KEY)
    if not isinstance(challenge_id, str) or not isinstance(key, str):
        raise JpkiFlowError("challenge_unknown")
    now = utcnow()
    updated = db.session.execute(
        update(JpkiChallenge)
        .where(
            JpkiChallenge.id == challenge_id,
            JpkiChallenge.browser_key == key,
            JpkiChallenge.verified_at.is_not(None),
            JpkiChallenge.completed_at.is_(None),
        )
        .values(completed_at=now)
        .execution_options(synchronize_session=False)
    )
    row = db.session.get(JpkiChallenge, challenge_id)
    if row is None:
        raise JpkiFlowError("challenge_unknown")
    if int(updated.rowcount or 0) != 1:  # type: ignore[attr-defined]
        if row.verified_at is None:
            raise JpkiFlowError(
                row.failure or ("challenge_expired" if row.expires_at <= now else "pending")
            )
        raise JpkiFlowError("challenge_used")
    session.pop(SESSION_CHALLENGE, None)
    ck = cert_key(row.cert_issuer_fp, row.cert_serial, row.cert_spki_sha256)
    binding = db.session.execute(
        select(CertificateBinding).where(CertificateBinding.cert_key == ck)
    ).scalar_one_or_none()
    user = None
    if binding is not None:
        binding.last_used_at = now
        user = binding.user if binding.user.is_active else None
    return Completion(
        user=user,
        cert_key=ck,
        serial_hint=row.cert_serial[-4:],
        not_after=row.cert_not_after,
        next_url=row.next_url,
        purpose=row.purpose,
    )


def mark_verified(completion: Completion) -> None:
    """Record the step-up in the session (the caller rotates the session id)."""
    session[SESSION_VERIFIED_AT] = utcnow().isoformat()
    session[SESSION_CERT_KEY] = completion.cert_key


def bind_certificate(user: User, pending: dict[str, Any]) -> CertificateBinding:
    """Bind a verified, unbound certificate to a member. One certificate, one account."""
    existing = db.session.execute(
        select(CertificateBinding).where(CertificateBinding.cert_key == pending["cert_key"])
    ).scalar_one_or_none()
    if existing is not None:
        raise JpkiFlowError("already_bound" if existing.user_id != user.id else "bound_here")
    binding = CertificateBinding(
        cert_key=pending["cert_key"],
        user_id=user.id,
        serial_hint=str(pending.get("serial_hint", ""))[:8],
        not_after=dt.datetime.fromisoformat(pending["not_after"]),
    )
    db.session.add(binding)
    return binding


def verified_recently(max_age_minutes: int | None = None) -> bool:
    """Whether this session passed a JPKI check within JPKI_STEP_UP_MINUTES."""
    raw = session.get(SESSION_VERIFIED_AT)
    if not isinstance(raw, str):
        return False
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        return False
    minutes = max_age_minutes or int(current_app.config["JPKI_STEP_UP_MINUTES"])
    return utcnow() - when <= dt.timedelta(minutes=minutes)


def jpki_required(view: F) -> F:
    """Survey answering and other certified actions: demand a recent JPKI check (A62)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not verified_recently():
            return redirect(url_for("auth.jpki_login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
