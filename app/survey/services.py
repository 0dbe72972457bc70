"""Monitor services: registration (sealed on the public server, filed in the vault), segments,
certificate bindings and renewal, self-service requests, leaving the panel.

Public-server functions (`submit_registration`, `request_*`) only seal envelopes; the filing
functions (`file_registration`, `apply_*`) run where the vault is, called by the intake or, for
`flask sample load`, directly. Services never commit.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import delete, select

from app.db import utcnow
from app.extensions import db
from app.privacy import crypto, vault
from app.privacy.envelopes import IntakeRejected, seal_envelope
from app.privacy.keys import current_keys
from app.privacy.models import Consent, InboxEnvelope, Purpose
from app.privacy.services import set_consents, withdraw_consent
from app.survey.districts import district_for
from app.survey.models import Monitor, MonitorCertificate
from app.survey.validation import (
    TEXT_FIELDS,
    FieldInvalid,
    RegistrationData,
    RegistrationInvalid,
    age_on,
    validate_fields,
)

PSEUDONYM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
SELF_EDITABLE = ("name", "name_kana", "postal_code", "address", "phone", "email", "mobile_email")
VERIFIED_FACTS = ("name", "address", "sex", "birth_date")
SAN_SEX = {"1": "male", "2": "female"}


class SurveyError(Exception):
    """A monitor operation cannot be done; `code` is stable, `field` names the form field."""

    def __init__(self, code: str, message: str = "", field: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.field = field


@dataclass(frozen=True)
class CertIdentity:
    """A verified JPKI authentication certificate: issuer anchor, serial, key hash, expiry."""

    anchor: str
    serial: str
    spki_sha256: str
    not_after: dt.datetime

    def as_json(self) -> dict[str, str]:
        return {
            "anchor": self.anchor,
            "serial": self.serial,
            "spki_sha256": self.spki_sha256,
            "not_after": self.not_after.astimezone(dt.UTC).isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any) -> CertIdentity:
        if not isinstance(data, dict):
            raise ValueError("certificate must be an object")
        return cls(
            anchor=str(data["anchor"]),
            serial=str(data["serial"]),
            spki_sha256=str(data["spki_sha256"]),
            not_after=dt.datetime.fromisoformat(str(data["not_after"])),
        )


def new_pseudonym() -> str:
    """M + 9 characters of Crockford base32 from `secrets` (45 bits; unique by constraint)."""
    return "M" + "".join(secrets.choice(PSEUDONYM_ALPHABET) for _ in range(9))


def cert_index(anchor: str, serial: str, spki_sha256: str) -> str:
    """Keyed blind index of one certificate (A41); needs only the blind-index key."""
    key = current_keys().index
    if key is None:
        raise SurveyError("no_index_key", "no blind-index key is configured")
    return crypto.blind_index(
        key, "cert", f"{anchor.lower()}|{serial.upper()}|{spki_sha256.lower()}"
    )


def _jpki_settings() -> Any:
    from app.auth.jpki.settings import JpkiSettings

    return JpkiSettings.from_mapping(current_app.config)


def certificate_identity(der_or_pem: bytes, at: dt.datetime | None = None) -> CertIdentity:
    """Verify an authentication certificate (chain, validity, policy, CRL) and return its
    identity. Raises SurveyError("certificate_invalid") naming the reason."""
    from app.auth.jpki.verify import verify_certificate

    result = verify_certificate(der_or_pem, "auth", at, _jpki_settings())
    if not result.ok or result.certificate is None or not result.anchor_fingerprint:
        raise SurveyError("certificate_invalid", f"certificate refused: {result.reason}")
    return CertIdentity(
        anchor=result.anchor_fingerprint,
        serial=result.serial,
        spki_sha256=result.spki_sha256 or "",
        not_after=result.certificate.not_valid_after_utc,
    )


# --- consents ---------------------------------------------------------------------------------


def consent_choices() -> list[Purpose]:
    """The purposes a monitor consents to, in display order, with their recipients."""
    return vault.active_purposes("consent")


def expand_consents(spec: Any) -> list[tuple[str, str]]:
    """ "all", a list of purpose codes (every recipient), or [purpose, recipient] pairs."""
    purposes = {p.code: p for p in consent_choices()}
    if spec == "all":
        return [(p.code, r.code) for p in purposes.values() for r in p.recipients]
    if not isinstance(spec, list):
        raise RegistrationInvalid({"consents": 'consents must be "all" or a list'})
    pairs: list[tuple[str, str]] = []
    for item in spec:
        if isinstance(item, str):
            purpose = purposes.get(item)
            if purpose is None:
                raise RegistrationInvalid({"consents": f"unknown purpose {item!r}"})
            pairs.extend((purpose.code, r.code) for r in purpose.recipients)
        elif isinstance(item, list | tuple) and len(item) == 2:
            pairs.append((str(item[0]), str(item[1])))
        else:
            raise RegistrationInvalid({"consents": "each consent is a purpose code or a pair"})
    return pairs


def check_consents(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Every pair names a consent purpose and one of its recipients, and every required
    purpose is consented for all its recipients. Raises RegistrationInvalid("consents")."""
    from app.i18n import _

    purposes = {p.code: p for p in consent_choices()}
    for purpose_code, recipient_code in pairs:
        purpose = purposes.get(purpose_code)
        if purpose is None or recipient_code not in {r.code for r in purpose.recipients}:
            raise RegistrationInvalid(
                {"consents": _("The consent form was not recognised. Please reload the page.")}
            )
    chosen = set(pairs)
    for purpose in purposes.values():
        if purpose.required and any(
            (purpose.code, r.code) not in chosen for r in purpose.recipients
        ):
            raise RegistrationInvalid(
                {
                    "consents": _(
                        "To register as a monitor, please agree to “%(purpose)s”.",
                        purpose=purpose.name_for(_locale()),
                    )
                }
            )
    return list(dict.fromkeys(pairs))


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "ja")


# --- signing-certificate proofs ---------------------------------------------------------


def signing_message(kind: str, content: dict[str, Any]) -> bytes:
    """The bytes a resident signs with the signing certificate for `kind` (registration,
    rebind): a label and the SHA-256 of the canonical JSON of `content`."""
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return (
        f"sankaku-monitor-{kind}-v1\n".encode()
        + hashlib.sha256(canonical.encode()).hexdigest().encode()
    )


def verify_signing_proof(proof: Any, kind: str, content: dict[str, Any]) -> Any:
    """Check a signing-certificate proof {certificate, signature} (base64) over
    `signing_message(kind, content)`; return the certificate's BasicFacts.
    Raises SurveyError("signing_proof_invalid")."""
    from app.auth.jpki.san import SanError, parse_basic_facts
    from app.auth.jpki.signature import verify_login_signature
    from app.auth.jpki.verify import verify_certificate

    try:
        der = base64.b64decode(proof["certificate"], validate=True)
        signature = base64.b64decode(proof["signature"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise SurveyError("signing_proof_invalid", "malformed signing proof") from exc
    result = verify_certificate(der, "sign", None, _jpki_settings())
    if not result.ok or result.certificate is None:
        raise SurveyError("signing_proof_invalid", f"signing certificate refused: {result.reason}")
    if not verify_login_signature(result.certificate, signature, signing_message(kind, content)):
        raise SurveyError("signing_proof_invalid", "the signature does not match")
    try:
        facts = parse_basic_facts(result.certificate)
    except SanError as exc:
        raise SurveyError("signing_proof_invalid", "unreadable basic facts") from exc
    if facts is None or facts.birth_date is None:
        raise SurveyError("signing_proof_invalid", "the certificate carries no basic facts")
    return facts


def _identity(name: str, birth_date: str) -> str:
    """Blind index of a verified name and birth date (for certificate renewal)."""
    normal = " ".join(unicodedata.normalize("NFKC", name).split())
    return vault.identity_index(normal, birth_date)


# --- registration -----------------------------------------------------------------------------


def registration_payload(
    data: RegistrationData,
    consents: list[tuple[str, str]],
    *,
    project: str | None = None,
    certificate: CertIdentity | None = None,
    member_id: int | None = None,
    signing_proof: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "v": 1,
        "project": project or current_app.config["SURVEY_PROJECT"],
        "fields": data.values(),
        "consents": [list(pair) for pair in consents],
        "certificate": certificate.as_json() if certificate else None,
        "member_id": member_id,
        "signing_proof": signing_proof,
    }


def submit_registration(payload: dict[str, Any]) -> InboxEnvelope:
    """Public server: seal a checked registration to the vault (the caller commits)."""
    vault.ensure_project(str(payload["project"]))
    return seal_envelope("registration", str(payload["project"]), payload)


def file_registration(payload: dict[str, Any], *, actor: str) -> Monitor:
    """Vault side: check the registration again, create the monitor, file the encrypted record,
    record the consents and the certificate binding, derive the segment (all audited).

    Raises RegistrationInvalid (bad values, missing consent) or SurveyError (duplicate email or
    certificate, bad signing proof, closed project) before writing anything.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("fields"), dict):
        raise SurveyError("malformed", "the registration is malformed")
    data = validate_fields(payload["fields"])
    raw_consents = payload.get("consents")
    pairs = check_consents(
        [(str(p[0]), str(p[1])) for p in raw_consents if isinstance(p, list) and len(p) == 2]
        if isinstance(raw_consents, list)
        else []
    )
    project = str(payload.get("project") or current_app.config["SURVEY_PROJECT"])
    vault.ensure_project(project)
    values: dict[str, str | None] = dict(data.values())
    verified: list[str] = []
    identity = None
    proof = payload.get("signing_proof")
    if proof:
        facts = verify_signing_proof(
            proof, "registration", {"email": data.email, "project": project}
        )
        values.update(
            name=facts.name,
            address=facts.address,
            sex=SAN_SEX.get(facts.sex, "unstated"),
            birth_date=facts.birth_date.isoformat(),
        )
        verified = list(VERIFIED_FACTS)
        identity = _identity(facts.name, facts.birth_date.isoformat())
    if vault.find_subject("email", data.email, project):
        raise SurveyError("duplicate_email", "this email address is already registered", "email")
    certificate = None
    if payload.get("certificate"):
        try:
            certificate = CertIdentity.from_json(payload["certificate"])
        except (KeyError, ValueError) as exc:
            raise SurveyError("malformed", "bad certificate binding") from exc
        _check_unbound(certificate)
    monitor = Monitor(pseudonym=new_pseudonym(), project_code=project, verified=bool(verified))
    db.session.add(monitor)
    db.session.flush()  # the pseudonym must be unique before anything refers to it
    if certificate:
        values["certificate"] = _cert_value(certificate)
    member_id = payload.get("member_id")
    if isinstance(member_id, int):
        values["sns_member"] = str(member_id)
    if verified:
        values["verified"] = ",".join(verified)
    vault.file_record(
        monitor.pseudonym,
        project,
        values,
        actor=actor,
        reason="monitor registration",
        identity=identity,
    )
    set_consents(monitor.pseudonym, pairs, actor=actor)
    if certificate:
        _bind(monitor, certificate)
    derive_segment(monitor, actor=actor)
    return monitor


def _cert_value(cert: CertIdentity) -> str:
    return vault.certificate_value(cert.anchor, cert.serial, cert.spki_sha256, cert.not_after)


def _check_unbound(cert: CertIdentity, allow: Monitor | None = None) -> str:
    index = cert_index(cert.anchor, cert.serial, cert.spki_sha256)
    existing = db.session.execute(
        select(MonitorCertificate).where(MonitorCertificate.cert_index == index)
    ).scalar_one_or_none()
    if existing is not None and (allow is None or existing.monitor_id != allow.id):
        raise SurveyError("certificate_bound", "this card is already registered to a monitor")
    return index


def _bind(monitor: Monitor, cert: CertIdentity) -> MonitorCertificate:
    index = _check_unbound(cert, allow=monitor)
    row = db.session.execute(
        select(MonitorCertificate).where(MonitorCertificate.cert_index == index)
    ).scalar_one_or_none()
    if row is None:
        row = MonitorCertificate(monitor=monitor, cert_index=index, not_after=cert.not_after)
        db.session.add(row)
    return row


# --- segments ---------------------------------------------------------------------------------


def age_band(birth: dt.date, today: dt.date) -> int:
    """The 10-year band: 20 for ages 20–29; 90 for 90 and over."""
    return min(age_on(birth, today) // 10 * 10, 90)


def derive_segment(monitor: Monitor, *, actor: str, today: dt.date | None = None) -> Monitor:
    """Read the `segment` purpose's fields and keep only district, sex and age band."""
    views = vault.access("segment", actor, [monitor.pseudonym], "derive the coarse segment")
    if not views:
        return monitor
    view = views[0]
    today = today or utcnow().date()
    birth = view.birth_date
    monitor.age_band = age_band(dt.date.fromisoformat(birth), today) if birth else None
    monitor.sex = view.sex or "unstated"
    monitor.district = district_for(view.postal_code or "", view.address or "")
    monitor.segment_at = utcnow()
    return monitor


def refresh_segments(*, actor: str, today: dt.date | None = None) -> int:
    """Re-derive every active monitor's segment (age bands move with birthdays)."""
    count = 0
    for monitor in db.session.execute(select(Monitor).where(Monitor.status == "active")).scalars():
        derive_segment(monitor, actor=actor, today=today)
        count += 1
    return count


# --- JPKI login and certificates --------------------------------------------------------------


def monitor_for_certificate(anchor: str, serial: str, spki_sha256: str) -> Monitor | None:
    """The active monitor bound to this certificate (the public server can answer this)."""
    row = db.session.execute(
        select(MonitorCertificate).where(
            MonitorCertificate.cert_index == cert_index(anchor, serial, spki_sha256)
        )
    ).scalar_one_or_none()
    if row is None or row.monitor.status != "active":
        return None
    row.last_used_at = utcnow()
    return row.monitor


def get_monitor(pseudonym: Any) -> Monitor:
    monitor = (
        db.session.execute(
            select(Monitor).where(Monitor.pseudonym == pseudonym)
        ).scalar_one_or_none()
        if isinstance(pseudonym, str)
        else None
    )
    if monitor is None or monitor.status != "active":
        raise IntakeRejected("unknown_monitor")
    return monitor


def bind_certificate(monitor: Monitor, cert: CertIdentity, *, actor: str, reason: str) -> None:
    """Bind a further (or first) certificate to a monitor; the vault records it too."""
    _bind(monitor, cert)
    vault.update_record(
        monitor.pseudonym, {"certificate": _cert_value(cert)}, actor=actor, reason=reason
    )


def _replace_certificates(monitor: Monitor, cert: CertIdentity) -> None:
    index = _check_unbound(cert, allow=monitor)
    db.session.execute(
        delete(MonitorCertificate).where(
            MonitorCertificate.monitor_id == monitor.id, MonitorCertificate.cert_index != index
        )
    )
    db.session.expire(monitor, ["certificates"])
    _bind(monitor, cert)


def rebind_with_signing_proof(cert: CertIdentity, proof: dict[str, str], *, actor: str) -> Monitor:
    """Certificate renewal: the new authentication certificate replaces the old one when a
    signing-certificate proof names a verified monitor (same name and birth date).
    Raises SurveyError("no_verified_match") or ("signing_proof_invalid")."""
    facts = verify_signing_proof(proof, "rebind", {"certificate": cert.as_json()})
    subject = vault.find_subject(
        "identity", _identity_text(facts.name, facts.birth_date.isoformat())
    )
    monitor = (
        db.session.execute(select(Monitor).where(Monitor.pseudonym == subject)).scalar_one_or_none()
        if subject
        else None
    )
    if monitor is None or monitor.status != "active" or not monitor.verified:
        raise SurveyError(
            "no_verified_match", "no verified monitor matches this signing certificate"
        )
    _replace_certificates(monitor, cert)
    vault.update_record(
        monitor.pseudonym,
        {"certificate": _cert_value(cert)},
        actor=actor,
        reason="certificate renewal with a signing-certificate proof",
    )
    return monitor


def _identity_text(name: str, birth_date: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).split()) + "|" + birth_date


def staff_relink(monitor: Monitor, cert: CertIdentity, *, actor: str, reason: str) -> None:
    """Staff-assisted renewal (the resident came to the counter): replace the certificate."""
    if not reason.strip():
        raise SurveyError("reason_required", "a reason is required", "reason")
    _replace_certificates(monitor, cert)
    vault.update_record(
        monitor.pseudonym,
        {"certificate": _cert_value(cert)},
        actor=actor,
        reason=f"staff-assisted certificate re-link: {reason}",
    )


# --- self-service ---------------------------------------------------------------------------


def request_change(kind: str, monitor: Monitor, body: dict[str, Any]) -> InboxEnvelope:
    """Public server: seal a monitor's request (correction, consent, leave, rebind)."""
    return seal_envelope(
        kind, monitor.project_code, {"v": 1, "pseudonym": monitor.pseudonym, **body}
    )


def check_correction(changes: dict[str, Any], verified: bool) -> dict[str, str]:
    """Check corrected values; verified facts (from the signing certificate) stay as they are.
    Raises RegistrationInvalid."""
    from app.survey.validation import (
        LIMITS,
        normalise_email,
        normalise_kana,
        normalise_phone,
        normalise_postal_code,
        text_value,
    )

    checks = {
        "name": lambda v: text_value(v, LIMITS["name"]),
        "name_kana": normalise_kana,
        "postal_code": normalise_postal_code,
        "address": lambda v: text_value(v, LIMITS["address"]),
        "phone": lambda v: normalise_phone(v, required=False),
        "email": normalise_email,
        "mobile_email": lambda v: normalise_email(v, required=False),
    }
    out: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, value in changes.items():
        if name not in checks or (verified and name in VERIFIED_FACTS):
            errors[name] = "not editable"
            continue
        try:
            out[name] = checks[name](value)
        except FieldInvalid as err:
            errors[name] = str(err)
    if errors:
        raise RegistrationInvalid(errors)
    return out


def apply_correction(monitor: Monitor, changes: dict[str, Any], *, actor: str) -> None:
    clean = check_correction(changes, monitor.verified)
    if "email" in clean:
        other = vault.find_subject("email", clean["email"], monitor.project_code)
        if other and other != monitor.pseudonym:
            raise SurveyError(
                "duplicate_email", "this email address is already registered", "email"
            )
    if clean:
        vault.update_record(
            monitor.pseudonym, clean, actor=actor, reason="correction by the monitor"
        )
        derive_segment(monitor, actor=actor)


def apply_consent_change(
    monitor: Monitor, grant: list[tuple[str, str]], withdraw: list[str], *, actor: str
) -> None:
    if grant:
        set_consents(monitor.pseudonym, grant, actor=actor)
    for purpose_code in withdraw:
        withdraw_consent(monitor.pseudonym, purpose_code, actor=actor)


def leave_panel(monitor: Monitor, *, actor: str) -> None:
    """Delete the vault record, the consents and the certificate bindings; keep only the
    pseudonym marked "left" (no segment) so past participation rows stay consistent."""
    vault.delete_record(monitor.pseudonym, actor=actor, reason="the monitor left the panel")
    db.session.execute(delete(Consent).where(Consent.subject == monitor.pseudonym))
    db.session.execute(
        delete(MonitorCertificate).where(MonitorCertificate.monitor_id == monitor.id)
    )
    monitor.status = "left"
    monitor.district = ""
    monitor.sex = "unstated"
    monitor.age_band = None


def purge_monitors(project_code: str, subjects: list[str]) -> int:
    """Retention hook: remove a purged project's monitors and certificate indexes."""
    ids = select(Monitor.id).where(Monitor.project_code == project_code)
    certs = db.session.execute(
        delete(MonitorCertificate).where(MonitorCertificate.monitor_id.in_(ids))
    )
    monitors = db.session.execute(delete(Monitor).where(Monitor.project_code == project_code))
    return int(certs.rowcount or 0) + int(monitors.rowcount or 0)  # type: ignore[attr-defined]


TEXT_FIELD_NAMES = TEXT_FIELDS
