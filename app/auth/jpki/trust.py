"""Trust anchors: the configured JPKI CA certificates, selected by name and key."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from .certinfo import CertInfo
from .der import DerError, pem_blocks, read_tlv, require_single_object
from .signature import issued_by, signed_by, signed_parts_valid

__all__ = ["Anchor", "Purpose", "TrustStore", "anchor_purpose", "load_certificates_from_file"]

log = logging.getLogger(__name__)

Purpose = Literal["auth", "sign"]

# J-LIS names its two hierarchies in the CA's OU; test hierarchies keep the same OUs.
_PURPOSE_MARKERS: dict[str, Purpose] = {
    "jpki for user authentication": "auth",
    "jpki for digital signature": "sign",
}


def anchor_purpose(name: x509.Name) -> Purpose | None:
    """The purpose ("auth" or "sign") a CA's distinguished name states, or None."""
    found: set[Purpose] = set()
    for attr in name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME):
        value = attr.value if isinstance(attr.value, str) else attr.value.decode("utf-8", "replace")
        purpose = _PURPOSE_MARKERS.get(value.strip().lower())
        if purpose:
            found.add(purpose)
    # A name claiming both purposes is ambiguous: treat it as neither.
    return found.pop() if len(found) == 1 else None


def spki_sha256(certificate: x509.Certificate) -> bytes:
    """SHA-256 of the certificate's DER SubjectPublicKeyInfo: the identity of a key."""
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def _key_identifier(certificate: x509.Certificate) -> bytes:
    try:
        return certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest
    except x509.ExtensionNotFound:
        # RFC 5280 method 1, what a CA without the extension would most likely put in AKIs.
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


@dataclass(frozen=True, slots=True)
class Anchor:
    """One configured CA certificate."""

    certificate: x509.Certificate
    der: bytes
    fingerprint: str  # SHA-256 of the DER certificate, 64 upper-case hex digits
    key_id: bytes  # subjectKeyIdentifier, matched against the leaf's AKI
    key_hash: bytes  # SHA-256 of the SubjectPublicKeyInfo; CRLs are indexed by this
    purpose: Purpose | None
    source: str
    public_key: rsa.RSAPublicKey | None  # loaded once: key loading is slow in OpenSSL 3+
    subject_text: str  # RFC 4514 form, the "issuer" of every certificate it signed
    subject_der: bytes  # DER of the subject name, compared byte for byte with issuer names

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate, source: str = "") -> Anchor:
        """Wrap a CA certificate (no checks beyond reading its fields)."""
        der = certificate.public_bytes(Encoding.DER)
        key = certificate.public_key()
        return cls(
            certificate=certificate,
            der=der,
            fingerprint=hashlib.sha256(der).hexdigest().upper(),
            key_id=_key_identifier(certificate),
            key_hash=spki_sha256(certificate),
            purpose=anchor_purpose(certificate.subject),
            source=source,
            public_key=key if isinstance(key, rsa.RSAPublicKey) else None,
            subject_text=certificate.subject.rfc4514_string(),
            subject_der=certificate.subject.public_bytes(),
        )


def load_certificates_from_file(path: str) -> list[x509.Certificate]:
    """Read every certificate in a PEM file, or the one certificate of a DER file.

    Raises ValueError (including DerError) when the file holds no well-formed certificate.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    if b"-----BEGIN" in data:
        ders = pem_blocks(data, "CERTIFICATE")
        if not ders:
            raise ValueError("no CERTIFICATE block")
    else:
        ders = [data]
    certs = []
    for der in ders:
        require_single_object(der)
        certs.append(x509.load_der_x509_certificate(der))
    return certs


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        bc = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bc.ca


class TrustStore:
    """The set of trust anchors. Issuers are found by name AND key, never by name alone.

    Certificates read from a card are never added here: only files an operator configured.
    """

    def __init__(self, anchors: Iterable[Anchor]) -> None:
        self._anchors: tuple[Anchor, ...] = tuple(anchors)
        self._by_key_id: dict[bytes, list[Anchor]] = {}
        for anchor in self._anchors:
            self._by_key_id.setdefault(anchor.key_id, []).append(anchor)

    @property
    def anchors(self) -> Sequence[Anchor]:
        """All anchors, in load order."""
        return self._anchors

    @classmethod
    def load(cls, trust_dir: str | None, pins: Iterable[str] = ()) -> TrustStore:
        """Load every CA certificate (PEM or DER) in ``trust_dir``.

        With ``pins`` (normalised SHA-256 fingerprints), anchors whose fingerprint is not listed
        are ignored. Unreadable files and non-CA certificates are logged and skipped; a missing
        directory gives an empty store (everything then fails with ``untrusted_issuer``).
        """
        pinset = set(pins)
        anchors: list[Anchor] = []
        seen: set[str] = set()
        if not trust_dir or not os.path.isdir(trust_dir):
            log.warning("JPKI trust directory %r is missing: no anchors", trust_dir)
            return cls(())
        for name in sorted(os.listdir(trust_dir)):
            path = os.path.join(trust_dir, name)
            if name.startswith(".") or not os.path.isfile(path):
                continue
            try:
                certs = load_certificates_from_file(path)
            except (OSError, ValueError, DerError) as exc:
                log.warning("JPKI trust file %s skipped: %s", name, exc)
                continue
            for cert in certs:
                try:
                    anchor = Anchor.from_certificate(cert, source=name)
                except ValueError as exc:
                    log.warning("JPKI trust file %s skipped: %s", name, exc)
                    continue
                if not _is_ca(cert):
                    log.warning("JPKI trust file %s skipped: not a CA certificate", name)
                    continue
                if pinset and anchor.fingerprint not in pinset:
                    log.info("JPKI anchor %s (%s) is not pinned: ignored", anchor.fingerprint, name)
                    continue
                if anchor.fingerprint in seen:
                    continue
                seen.add(anchor.fingerprint)
                anchors.append(anchor)
        missing = pinset - seen
        if missing:
            log.warning("JPKI pinned anchors not found in %s: %s", trust_dir, sorted(missing))
        return cls(anchors)

    def candidates(self, certificate: x509.Certificate, der: bytes | None = None) -> list[Anchor]:
        """Anchors whose name equals the certificate's issuer and, when the certificate carries an
        authorityKeyIdentifier, whose key identifier equals it. The signature is not checked.

        Names are compared as DER bytes (J-LIS copies the CA's subject into the issuer field);
        a differently encoded name does not match, which fails closed.
        """
        aki = _authority_key_id(certificate)
        pool = self._anchors if aki is None else self._by_key_id.get(aki, [])
        if not pool:
            return []
        issuer = _issuer_der(der) if der is not None else None
        if issuer is None:
            issuer = certificate.issuer.public_bytes()
        return [a for a in pool if a.subject_der == issuer]

    def find_issuer(self, certificate: x509.Certificate, der: bytes | None = None) -> Anchor | None:
        """The anchor whose key signed ``certificate`` (DER ``der`` when at hand), or None.

        Generations of one CA share a DN, so the name only narrows the choice; the AKI picks the
        key and the signature check proves it.
        """
        for anchor in self.candidates(certificate, der):
            if der is not None and anchor.public_key is not None:
                if signed_by(der, anchor.public_key):
                    return anchor
            elif issued_by(certificate, anchor.certificate):
                return anchor
        return None

    def find_issuer_of(self, info: CertInfo) -> Anchor | None:
        """`find_issuer` for a certificate already walked by `walk_certificate`."""
        aki = info.authority_key_id
        pool = self._anchors if aki is None else self._by_key_id.get(aki, ())
        for anchor in pool:
            if (
                anchor.subject_der == info.issuer
                and anchor.public_key is not None
                and signed_parts_valid(anchor.public_key, info.tbs, info.algorithm, info.signature)
            ):
                return anchor
        return None

    def issuers_of_name(self, name: x509.Name) -> list[Anchor]:
        """Anchors with this subject name (for CRLs, whose signature is then checked)."""
        encoded = name.public_bytes()
        return [a for a in self._anchors if a.subject_der == encoded]


def _authority_key_id(certificate: x509.Certificate) -> bytes | None:
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    return aki.key_identifier


def _issuer_der(der: bytes) -> bytes | None:
    """The issuer Name's DER inside a DER certificate, or None if the layout is unexpected."""
    try:
        _tag, start, end = read_tlv(der, 0)
        tag, pos, tbs_end = read_tlv(der, start, end)
        if tag != 0x30:
            return None
        tag, _s, e = read_tlv(der, pos, tbs_end)
        if tag == 0xA0:  # [0] version
            tag, _s, e = read_tlv(der, e, tbs_end)
        if tag != 0x02:  # serialNumber
            return None
        tag, _s, e = read_tlv(der, e, tbs_end)  # signature AlgorithmIdentifier
        tag2, _s, name_end = read_tlv(der, e, tbs_end)  # issuer
        if tag != 0x30 or tag2 != 0x30:
            return None
        return der[e:name_end]
    except DerError:
        return None
