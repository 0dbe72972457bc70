"""The challenge layer of the JPKI login, independent of Flask and of the database.

The web layer stores a `Challenge` (bound to the browser session), serves `challenge_json()`
to the card client, and on the client's POST calls `verify_login_response()` with the stored
state; when that returns ok it consumes the challenge atomically (for example
``UPDATE … SET used_at = now WHERE id = ? AND used_at IS NULL`` and treating zero updated rows
as ``challenge_used``), then rotates the session.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .reasons import Reason
from .settings import JpkiSettings
from .signature import login_message, verify_login_signature
from .verify import Stores, VerificationResult, verify_certificate

__all__ = [
    "CHALLENGE_TTL",
    "CODE_ALPHABET",
    "Challenge",
    "challenge_json",
    "decode_login_response",
    "new_challenge",
    "normalize_code",
    "verify_login_response",
]

CHALLENGE_TTL = timedelta(minutes=5)
NONCE_BYTES = 32
# Upper-case letters and digits without look-alikes (0/O, 1/I/L), easy to read aloud or type.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
MAX_CERTIFICATE_B64 = 16 * 1024
MAX_SIGNATURE_B64 = 1024


@dataclass(frozen=True, slots=True)
class Challenge:
    """One login challenge as the server stores it."""

    challenge_id: str
    nonce: bytes
    origin: str
    code: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


def new_challenge(
    origin: str, *, now: datetime | None = None, ttl: timedelta = CHALLENGE_TTL
) -> Challenge:
    """Create a challenge: 32 random bytes, a random id, a short human code, a 5-minute TTL.

    ``origin`` is the site's scheme://host[:port] exactly as the card client will compare it
    with the URL it was given (no trailing slash, default ports omitted).
    """
    created = now or datetime.now(UTC)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return Challenge(
        challenge_id=secrets.token_urlsafe(24),
        nonce=secrets.token_bytes(NONCE_BYTES),
        origin=origin,
        code=code[:4] + "-" + code[4:],
        created_at=created,
        expires_at=created + ttl,
    )


def normalize_code(code: str) -> str:
    """Canonical form of a human-typed code: upper case, ``XXXX-XXXX`` (spaces and dashes free).

    Full-width characters typed on a Japanese keyboard are folded too.
    """
    import unicodedata

    compact = "".join(
        ch for ch in unicodedata.normalize("NFKC", code).upper() if ch.isalnum() and ch.isascii()
    )
    return compact[:4] + "-" + compact[4:] if len(compact) > 4 else compact


def challenge_json(challenge: Challenge) -> dict[str, str]:
    """The body of ``GET /auth/jpki/challenge/<code>`` that the card client expects."""
    return {
        "challenge_id": challenge.challenge_id,
        "nonce": base64.b64encode(challenge.nonce).decode("ascii"),
        "origin": challenge.origin,
        "expires_at": challenge.expires_at.astimezone(UTC).isoformat(),
    }


def decode_login_response(body: object) -> tuple[str, bytes, bytes]:
    """Validate the JSON body of ``POST /auth/jpki/response``.

    Returns ``(challenge_id, certificate_der, signature)``; raises ValueError for anything that
    is not ``{"challenge_id": str, "certificate": base64, "signature": base64}``.
    """
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    challenge_id = body.get("challenge_id")
    cert_b64 = body.get("certificate")
    sig_b64 = body.get("signature")
    if not isinstance(challenge_id, str) or not 0 < len(challenge_id) <= 128:
        raise ValueError("challenge_id must be a short string")
    if not isinstance(cert_b64, str) or not 0 < len(cert_b64) <= MAX_CERTIFICATE_B64:
        raise ValueError("certificate must be base64 DER")
    if not isinstance(sig_b64, str) or not 0 < len(sig_b64) <= MAX_SIGNATURE_B64:
        raise ValueError("signature must be base64")
    try:
        certificate = base64.b64decode(cert_b64, validate=True)
        signature = base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("invalid base64") from exc
    return challenge_id, certificate, signature


def verify_login_response(
    challenge: Challenge | None,
    certificate: bytes,
    signature: bytes,
    settings: JpkiSettings,
    *,
    now: datetime | None = None,
    stores: Stores | None = None,
) -> VerificationResult:
    """Check a card client's answer to ``challenge`` (None when the id was not found).

    Order: challenge_unknown → challenge_used → challenge_expired → the certificate checks of
    `verify_certificate` with usage "auth" → bad_signature over `login_message`. Does not
    consume the challenge: the caller does that atomically after an ok result.
    """
    when = now or datetime.now(UTC)
    if challenge is None:
        return VerificationResult(False, Reason.CHALLENGE_UNKNOWN.value)
    if challenge.used_at is not None:
        return VerificationResult(False, Reason.CHALLENGE_USED.value)
    if when >= challenge.expires_at:
        return VerificationResult(False, Reason.CHALLENGE_EXPIRED.value)
    result = verify_certificate(certificate, "auth", when, settings, stores=stores)
    if not result.ok or result.certificate is None:
        return result
    message = login_message(challenge.origin, challenge.challenge_id, challenge.nonce)
    if not verify_login_signature(result.certificate, signature, message):
        return result.refused(Reason.BAD_SIGNATURE)
    return result
