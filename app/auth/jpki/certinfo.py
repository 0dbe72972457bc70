"""One strict walk over a DER certificate for what the verifier needs.

`cryptography` parses the certificate as a whole; building its Python objects for every
extension costs about as much as an RSA verification, so the verifier reads the few extensions
it needs (keyUsage, basicConstraints, certificatePolicies, authorityKeyIdentifier) straight
from the DER, together with the signed part, the issuer name and the signature. Unknown
critical extensions make the certificate unusable (RFC 5280 §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from .der import DerError, read_tlv

__all__ = [
    "KU_DIGITAL_SIGNATURE",
    "KU_KEY_CERT_SIGN",
    "KU_NON_REPUDIATION",
    "CertInfo",
    "encode_oid",
    "walk_certificate",
]

# keyUsage bits, numbered as in RFC 5280 (bit 0 = digitalSignature), as a bit mask.
KU_DIGITAL_SIGNATURE = 1 << 0
KU_NON_REPUDIATION = 1 << 1
KU_KEY_CERT_SIGN = 1 << 5

_OID_KEY_USAGE = bytes.fromhex("551d0f")
_OID_BASIC_CONSTRAINTS = bytes.fromhex("551d13")
_OID_POLICIES = bytes.fromhex("551d20")
_OID_AKI = bytes.fromhex("551d23")
# Extensions we understand well enough to accept when critical (RFC 5280 profile).
_KNOWN_CRITICAL = {
    _OID_KEY_USAGE,
    _OID_BASIC_CONSTRAINTS,
    _OID_POLICIES,
    bytes.fromhex("551d11"),  # subjectAltName
    bytes.fromhex("551d12"),  # issuerAltName
    bytes.fromhex("551d25"),  # extendedKeyUsage
}


def encode_oid(dotted: str) -> bytes:
    """DER content bytes of an OBJECT IDENTIFIER (without tag and length)."""
    parts = [int(p) for p in dotted.split(".")]
    if len(parts) < 2 or parts[0] > 2 or (parts[0] < 2 and parts[1] >= 40):
        raise ValueError(f"bad OID {dotted!r}")
    out = bytearray()
    for value in [parts[0] * 40 + parts[1], *parts[2:]]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


class _ExtInfo(TypedDict):
    """The extension values the verifier needs, filled while walking the DER."""

    key_usage: int | None
    is_ca: bool
    policies: frozenset[bytes]
    authority_key_id: bytes | None


@dataclass(frozen=True, slots=True)
class CertInfo:
    """The parts of a certificate the verifier reads itself."""

    tbs: bytes
    algorithm: bytes
    signature: bytes
    issuer: bytes  # DER of the issuer Name
    key_usage: int | None  # RFC 5280 bit mask, None when the extension is absent
    is_ca: bool
    policies: frozenset[bytes]  # DER content of each policy OID
    authority_key_id: bytes | None


def _bits(content: bytes) -> int:
    """keyUsage BIT STRING content → mask with RFC bit n at position n."""
    if not content:
        raise DerError("empty BIT STRING")
    unused, data = content[0], content[1:]
    if unused > 7 or (not data and unused) or (data and data[-1] & ((1 << unused) - 1)):
        raise DerError("bad BIT STRING")
    mask = 0
    for index, byte in enumerate(data):
        for bit in range(8):
            if byte & (0x80 >> bit):
                mask |= 1 << (index * 8 + bit)
    return mask


def _extension_value(der: bytes, oid: bytes, start: int, end: int, info: _ExtInfo) -> None:
    if oid == _OID_KEY_USAGE:
        tag, s, e = read_tlv(der, start, end)
        if tag != 0x03 or e != end:
            raise DerError("bad keyUsage")
        info["key_usage"] = _bits(der[s:e])
    elif oid == _OID_BASIC_CONSTRAINTS:
        tag, s, e = read_tlv(der, start, end)
        if tag != 0x30 or e != end:
            raise DerError("bad basicConstraints")
        ca = False
        if s < e:
            tag, bs, be = read_tlv(der, s, e)
            if tag == 0x01:
                if be - bs != 1 or der[bs] not in (0x00, 0xFF):
                    raise DerError("bad BOOLEAN")
                ca = der[bs] == 0xFF
                s = be
            if s < e:
                tag, _s, s = read_tlv(der, s, e)
                if tag != 0x02 or s != e:
                    raise DerError("bad pathLenConstraint")
        info["is_ca"] = ca
    elif oid == _OID_POLICIES:
        tag, s, e = read_tlv(der, start, end)
        if tag != 0x30 or e != end or s == e:
            raise DerError("bad certificatePolicies")
        policies = set()
        while s < e:
            tag, ps, pe = read_tlv(der, s, e)
            if tag != 0x30:
                raise DerError("bad PolicyInformation")
            tag, os_, oe = read_tlv(der, ps, pe)
            if tag != 0x06 or oe == os_:
                raise DerError("bad policy OID")
            if oe < pe:
                tag, _qs, qe = read_tlv(der, oe, pe)
                if tag != 0x30 or qe != pe:
                    raise DerError("bad policy qualifiers")
            policy = der[os_:oe]
            if policy in policies:
                raise DerError("duplicate policy")
            policies.add(policy)
            s = pe
        info["policies"] = frozenset(policies)
    elif oid == _OID_AKI:
        tag, s, e = read_tlv(der, start, end)
        if tag != 0x30 or e != end:
            raise DerError("bad authorityKeyIdentifier")
        key_id = None
        while s < e:
            tag, vs, ve = read_tlv(der, s, e)
            if tag == 0x80:
                key_id = der[vs:ve]
            elif tag not in (0xA1, 0x82):
                raise DerError("bad authorityKeyIdentifier field")
            s = ve
        info["authority_key_id"] = key_id


def walk_certificate(der: bytes) -> CertInfo:
    """Read the signed part, issuer and needed extensions of a DER certificate (strict DER).

    Raises DerError for structural problems, a repeated extension, or an unknown critical one.
    """
    tag, start, end = read_tlv(der, 0)
    if tag != 0x30 or end != len(der):
        raise DerError("not a single SEQUENCE")
    tag, ts, te = read_tlv(der, start, end)
    if tag != 0x30:
        raise DerError("tbsCertificate is not a SEQUENCE")
    tag, _s, alg_end = read_tlv(der, te, end)
    if tag != 0x30:
        raise DerError("bad signatureAlgorithm")
    tag, ss, se = read_tlv(der, alg_end, end)
    if tag != 0x03 or se != end or se == ss or der[ss] != 0:
        raise DerError("bad signature BIT STRING")

    pos = ts
    tag, _s, e = read_tlv(der, pos, te)
    if tag == 0xA0:  # [0] EXPLICIT version
        pos = e
        tag, _s, e = read_tlv(der, pos, te)
    if tag != 0x02:
        raise DerError("no serialNumber")
    pos = e
    fields = []
    for _ in range(5):  # signature, issuer, validity, subject, subjectPublicKeyInfo
        tag, _s, e = read_tlv(der, pos, te)
        if tag != 0x30:
            raise DerError("bad tbsCertificate field")
        fields.append((pos, e))
        pos = e
    issuer = der[fields[1][0] : fields[1][1]]
    info: _ExtInfo = {
        "key_usage": None,
        "is_ca": False,
        "policies": frozenset(),
        "authority_key_id": None,
    }
    seen: set[bytes] = set()
    while pos < te:
        tag, s, e = read_tlv(der, pos, te)
        pos = e
        if tag in (0x81, 0x82):  # issuerUniqueID, subjectUniqueID
            continue
        if tag != 0xA3 or pos != te:
            raise DerError("unexpected field in tbsCertificate")
        tag, xs, xe = read_tlv(der, s, e)
        if tag != 0x30 or xe != e or xs == xe:
            raise DerError("bad extensions")
        while xs < xe:
            tag, es, ee = read_tlv(der, xs, xe)
            if tag != 0x30:
                raise DerError("bad Extension")
            tag, os_, oe = read_tlv(der, es, ee)
            if tag != 0x06:
                raise DerError("Extension without OID")
            oid = der[os_:oe]
            if oid in seen:
                raise DerError("repeated extension")
            seen.add(oid)
            p = oe
            critical = False
            tag, bs, be = read_tlv(der, p, ee)
            if tag == 0x01:
                if be - bs != 1 or der[bs] != 0xFF:
                    # DER: a FALSE default is omitted, so an explicit BOOLEAN must be TRUE.
                    raise DerError("bad critical flag")
                critical = True
                tag, bs, be = read_tlv(der, be, ee)
            if tag != 0x04 or be != ee:
                raise DerError("extension value is not one OCTET STRING")
            if critical and oid not in _KNOWN_CRITICAL:
                raise DerError("unknown critical extension")
            _extension_value(der, oid, bs, be, info)
            xs = ee
    return CertInfo(
        tbs=der[start:te],
        algorithm=der[te:alg_end],
        signature=der[ss + 1 : se],
        issuer=issuer,
        key_usage=info["key_usage"],
        is_ca=bool(info["is_ca"]),
        policies=info["policies"],
        authority_key_id=info["authority_key_id"],
    )
