"""Signing-certificate proofs on the web: certificate renewal with the signing certificate.

A monitor whose My Number Card was renewed logs in with the new card (its authentication
certificate is not bound yet), then proves who they are with the card's *signing* certificate:
the card signs `signing_message("rebind", {"certificate": <the new certificate>})`, and the
internal server re-binds the monitor whose verified name and birth date match the signing
certificate's (`app.survey.services.rebind_with_signing_proof`). The public server checks the
proof's signature and chain at once (so a mistake is shown on the page), then seals it as a
"rebind" envelope; it never learns who the monitor is.

`sign_with_card` is the card side: it reads the signing certificate and has the card sign the
message (the signing password is needed); `flask privacy proof sign` wraps it for the resident.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Protocol

from flask import current_app

from app.i18n import _
from app.privacy.envelopes import seal_envelope
from app.privacy.models import InboxEnvelope

MAX_PROOF_BYTES = 16_384


class ProofError(Exception):
    """A proof that cannot be used; `message` is in the user's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SigningCard(Protocol):
    """What `sign_with_card` needs of a card client (`app.auth.jpki.card.JpkiClient`)."""

    def verify_password(self, password: str) -> None: ...

    def read_certificate(self, kind: Any = "auth") -> bytes: ...

    def sign_digest_info(self, digest_info: bytes, kind: Any = "auth") -> bytes: ...


def renewal_message(cert: Any) -> bytes:
    """The bytes the signing certificate signs to re-bind `cert` (a CertIdentity)."""
    from app.survey.services import signing_message

    return signing_message("rebind", {"certificate": cert.as_json()})


def registration_content(email: str, project: str) -> dict[str, str]:
    return {"email": email, "project": project}


def registration_message(email: str, project: str) -> bytes:
    """The bytes the signing certificate signs for a verified registration with `email`."""
    from app.survey.services import signing_message

    return signing_message("registration", registration_content(email, project))


def check_registration_proof(email: str, project: str, proof: dict[str, str]) -> None:
    """Check a verified-registration proof (chain, validity, revocation, the signature over this
    email and project, basic facts present). Raises ProofError with the reason."""
    from app.survey.services import SurveyError, verify_signing_proof

    try:
        verify_signing_proof(proof, "registration", registration_content(email, project))
    except SurveyError as exc:
        raise ProofError(
            _(
                "The proof was not accepted: it must be signed with the signing certificate of "
                "your card, for the email address entered on this page."
            )
        ) from exc


def sign_with_card(card: SigningCard, password: str, message: bytes) -> dict[str, str]:
    """Have the card sign SHA-256(message) with the signing key; return the proof
    {certificate, signature} (base64). Raises the card's errors (wrong password, blocked …)."""
    from app.auth.jpki.signature import digest_info_sha256

    card.verify_password(password)
    der = card.read_certificate("sign")
    signature = card.sign_digest_info(digest_info_sha256(message), "sign")
    return {
        "certificate": base64.b64encode(der).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def parse_proof(raw: bytes | str) -> dict[str, str]:
    """The proof file's JSON object {certificate, signature}; ProofError when it is not one."""
    if isinstance(raw, str):
        raw = raw.encode()
    if not raw.strip():
        raise ProofError(_("Please choose the proof file the card client wrote."))
    if len(raw) > MAX_PROOF_BYTES:
        raise ProofError(_("This file is too large to be a proof file."))
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProofError(_("This is not a proof file written by the card client.")) from exc
    if not isinstance(data, dict):
        raise ProofError(_("This is not a proof file written by the card client."))
    proof: dict[str, str] = {}
    for name in ("certificate", "signature"):
        value = data.get(name)
        if not isinstance(value, str):
            raise ProofError(_("This is not a proof file written by the card client."))
        try:
            base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise ProofError(_("This is not a proof file written by the card client.")) from exc
        proof[name] = value
    return proof


def check_renewal_proof(cert: Any, proof: dict[str, str]) -> None:
    """Check the proof's signing certificate (chain, validity, revocation) and its signature over
    this certificate's renewal message. Raises ProofError with the reason for the resident."""
    from app.survey.services import SurveyError, verify_signing_proof

    try:
        verify_signing_proof(proof, "rebind", {"certificate": cert.as_json()})
    except SurveyError as exc:
        raise ProofError(
            _(
                "The proof was not accepted: it must be signed with the signing certificate of "
                "your card, for the card you logged in with on this page."
            )
        ) from exc


def submit_renewal(cert: Any, proof: dict[str, str]) -> InboxEnvelope:
    """Public server: check the proof and seal the re-binding request (the caller commits)."""
    check_renewal_proof(cert, proof)
    project = str(current_app.config["SURVEY_PROJECT"])
    return seal_envelope(
        "rebind", project, {"v": 1, "certificate": cert.as_json(), "signing_proof": proof}
    )
