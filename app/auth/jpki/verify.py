"""Certificate verification for JPKI logins and signing certificates.

Checks run in a fixed order and the first failure decides the reason code (reasons.py):
malformed → untrusted_issuer → expired / not_yet_valid → wrong_usage → wrong_purpose →
wrong_policy → revoked / revocation_unknown.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .certinfo import (
    KU_DIGITAL_SIGNATURE,
    KU_NON_REPUDIATION,
    CertInfo,
    encode_oid,
    walk_certificate,
)
from .crl import CRLStore
from .der import DerError, pem_blocks
from .reasons import Reason, Text, reason_text
from .settings import JpkiSettings
from .trust import Anchor, TrustStore

__all__ = [
    "POLICY_AUTH",
    "POLICY_SIGN",
    "TEST_POLICY_AUTH",
    "TEST_POLICY_SIGN",
    "MalformedCertificate",
    "Stores",
    "Usage",
    "VerificationResult",
    "clear_store_cache",
    "get_stores",
    "load_certificate",
    "verify_certificate",
]

log = logging.getLogger(__name__)

Usage = Literal["auth", "sign"]

# jpki.md §3: 利用者証明用 "auth class 30" and 署名用 "sign class 20".
POLICY_AUTH = "1.2.392.200149.8.5.1.3.30"
POLICY_SIGN = "1.2.392.200149.8.5.1.1.20"
# Test hierarchy: the signing OID is reported by one implementation; the authentication one is
# inferred from the same pattern (jpki.md marks it unconfirmed). Accepted only in test mode.
TEST_POLICY_SIGN = "1.2.392.200149.8.5.1.0.20"
TEST_POLICY_AUTH = "1.2.392.200149.8.5.1.0.30"

_POLICIES: dict[str, bytes] = {"auth": encode_oid(POLICY_AUTH), "sign": encode_oid(POLICY_SIGN)}
_TEST_POLICIES: dict[str, bytes] = {
    "auth": encode_oid(TEST_POLICY_AUTH),
    "sign": encode_oid(TEST_POLICY_SIGN),
}
_OTHER: dict[str, str] = {"auth": "sign", "sign": "auth"}
MAX_CERTIFICATE_BYTES = 16 * 1024


class MalformedCertificate(ValueError):  # noqa: N818 - public name
    """The bytes are not exactly one well-formed X.509 certificate."""


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """Outcome of `verify_certificate` (and of the login check built on it)."""

    ok: bool
    reason: str | None
    subject: str = ""
    serial: str = ""  # upper-case hex, no colons
    issuer: str = ""
    anchor_fingerprint: str | None = None
    revocation_unknown: bool = False
    certificate: x509.Certificate | None = None
    revocation_reason: str | None = None
    spki_sha256: str | None = None  # hex; with anchor + serial it identifies a card key

    @property
    def message(self) -> Text | None:
        """Human text for the reason (None when ok)."""
        return reason_text(self.reason) if self.reason else None

    def as_json(self) -> dict[str, Any]:
        """The public JSON shape of `flask jpki verify`."""
        return {
            "ok": self.ok,
            "reason": self.reason,
            "subject": self.subject,
            "serial": self.serial,
            "issuer": self.issuer,
        }

    def refused(self, reason: Reason) -> VerificationResult:
        """A copy of this result, refused with ``reason`` (used by the challenge layer)."""
        return VerificationResult(
            ok=False,
            reason=reason.value,
            subject=self.subject,
            serial=self.serial,
            issuer=self.issuer,
            anchor_fingerprint=self.anchor_fingerprint,
            revocation_unknown=self.revocation_unknown,
            certificate=self.certificate,
            revocation_reason=self.revocation_reason,
            spki_sha256=self.spki_sha256,
        )


@dataclass(frozen=True, slots=True)
class Stores:
    """Loaded anchors and CRLs for one settings value."""

    trust: TrustStore
    crls: CRLStore


_cache: dict[JpkiSettings, Stores] = {}
_cache_lock = threading.Lock()


def get_stores(settings: JpkiSettings) -> Stores:
    """Anchors and CRLs for ``settings``, loaded once and reused (CRLs reload on file change)."""
    stores = _cache.get(settings)
    if stores is not None:
        return stores
    with _cache_lock:
        stores = _cache.get(settings)
        if stores is None:
            trust = TrustStore.load(settings.trust_dir, settings.trust_pins)
            stores = Stores(trust, CRLStore(settings.crl_dir, trust))
            _cache[settings] = stores
    return stores


def clear_store_cache() -> None:
    """Forget every cached store (after replacing anchors, and in tests)."""
    with _cache_lock:
        _cache.clear()


def load_certificate(data: bytes) -> x509.Certificate:
    """Parse exactly one certificate from DER or PEM bytes.

    DER must be one object with a correct length header and nothing after it; PEM must hold
    exactly one CERTIFICATE block. Raises MalformedCertificate otherwise.
    """
    cert = _parse(data)[0]
    try:
        _ = cert.extensions  # callers of this function may read any extension
    except ValueError as exc:
        raise MalformedCertificate(str(exc)) from exc
    return cert


def _parse(data: bytes) -> tuple[x509.Certificate, bytes, CertInfo]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedCertificate("certificate must be bytes")
    data = bytes(data)
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise MalformedCertificate("certificate too large")
    try:
        if data[:1] != b"\x30" and data.lstrip().startswith(b"-----BEGIN"):
            blocks = pem_blocks(data, "CERTIFICATE")
            if len(blocks) != 1:
                raise MalformedCertificate("expected exactly one PEM CERTIFICATE block")
            data = blocks[0]
        # Exactly one object, strict DER lengths, no trailing bytes; then the extensions the
        # verifier uses, read from the DER: building cryptography's objects for all of them
        # would double the cost of a verification.
        info = walk_certificate(data)
        cert = x509.load_der_x509_certificate(data)
        _ = cert.public_key()
        # cryptography parses the names lazily: a bad one must be "malformed" here, not a
        # ValueError later in the verifier (found by tests/security/test_fuzz.py).
        _ = cert.subject, cert.issuer
    except MalformedCertificate:
        raise
    except (DerError, ValueError, TypeError) as exc:
        raise MalformedCertificate(str(exc)) from exc
    except Exception as exc:
        raise MalformedCertificate(type(exc).__name__) from exc
    return cert, data, info


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _usage_ok(info: CertInfo, usage: Usage) -> bool:
    if info.is_ca or info.key_usage is None:
        return False  # a CA certificate is never a resident's certificate
    if not info.key_usage & KU_DIGITAL_SIGNATURE:
        return False
    return usage != "sign" or bool(info.key_usage & KU_NON_REPUDIATION)


def verify_certificate(
    der_or_pem: bytes,
    usage: Usage = "auth",
    at: datetime | None = None,
    settings: JpkiSettings | None = None,
    *,
    stores: Stores | None = None,
) -> VerificationResult:
    """Verify a JPKI certificate for ``usage`` ("auth" for login, "sign" for 基本4情報) at ``at``.

    Uses the anchors and CRLs of ``settings`` (cached) or the given ``stores``. Never raises for
    a bad certificate: the result says ok or gives the first failing reason code. Raises
    ValueError for an invalid ``usage`` or when neither settings nor stores are given.
    """
    if usage not in ("auth", "sign"):
        raise ValueError(f"usage must be 'auth' or 'sign', not {usage!r}")
    if stores is None:
        if settings is None:
            raise ValueError("settings or stores required")
        stores = get_stores(settings)
    test_mode = bool(settings and settings.test_mode)
    fail_closed = settings is None or settings.revocation == "fail-closed"
    when = _utc(at) if at is not None else datetime.now(UTC)

    try:
        cert, _der, info = _parse(der_or_pem)
    except MalformedCertificate:
        return VerificationResult(False, Reason.MALFORMED.value)

    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    serial_number = cert.serial_number
    base: dict[str, Any] = {
        "subject": cert.subject.rfc4514_string(),
        "serial": f"{serial_number:X}" if serial_number >= 0 else "",
        "certificate": cert,
        "spki_sha256": hashlib.sha256(spki).hexdigest(),
    }
    if serial_number <= 0:
        # RFC 5280 requires a positive serial; a negative one cannot match CRL entries reliably.
        return VerificationResult(
            False, Reason.MALFORMED.value, issuer=cert.issuer.rfc4514_string(), **base
        )

    anchor: Anchor | None = stores.trust.find_issuer_of(info)
    if anchor is None:
        return VerificationResult(
            False, Reason.UNTRUSTED_ISSUER.value, issuer=cert.issuer.rfc4514_string(), **base
        )
    # The issuer name equals the anchor's subject (checked), whose text is precomputed.
    base["issuer"] = anchor.subject_text
    base["anchor_fingerprint"] = anchor.fingerprint

    for checked in (anchor.certificate, cert):
        if when < _utc(checked.not_valid_before_utc):
            return VerificationResult(False, Reason.NOT_YET_VALID.value, **base)
        if when > _utc(checked.not_valid_after_utc):
            return VerificationResult(False, Reason.EXPIRED.value, **base)

    if not _usage_ok(info, usage):
        return VerificationResult(False, Reason.WRONG_USAGE.value, **base)

    policies = info.policies
    other = _OTHER[usage]
    if anchor.purpose != usage or _POLICIES[other] in policies or _TEST_POLICIES[other] in policies:
        return VerificationResult(False, Reason.WRONG_PURPOSE.value, **base)

    accepted = {_POLICIES[usage]}
    if test_mode:
        accepted.add(_TEST_POLICIES[usage])
    if not policies & accepted:
        return VerificationResult(False, Reason.WRONG_POLICY.value, **base)

    status = stores.crls.status(anchor, serial_number, when)
    if status.state == "revoked":
        return VerificationResult(
            False, Reason.REVOKED.value, revocation_reason=status.reason, **base
        )
    if status.state == "unknown":
        if fail_closed:
            return VerificationResult(
                False, Reason.REVOCATION_UNKNOWN.value, revocation_unknown=True, **base
            )
        log.warning(
            "JPKI revocation status unknown for serial %s (anchor %s): accepted by configuration",
            base["serial"],
            anchor.fingerprint,
        )
        return VerificationResult(True, None, revocation_unknown=True, **base)
    return VerificationResult(True, None, **base)
