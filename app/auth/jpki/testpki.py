"""A JPKI-shaped test PKI (jpki.md §6), generated with `cryptography`, for tests and demos.

Nothing here is production material: every name says ``JPKI-DEVTEST``, residents are invented,
keys are fresh. Layout written by `make_test_pki(DIR)`::

    DIR/trust/            anchors for JPKI_TRUST_DIR (both generations of both CAs; no impostor)
    DIR/crl/              current CRLs for JPKI_CRL_DIR
    DIR/crl-bad/          an expired CRL and one signed by the wrong key
    DIR/cards/<name>/     auth.der, auth.key.pem, [sign.der, sign.key.pem], auth_ca.der,
                          [sign_ca.der], card.json (PIN, password, metadata)
    DIR/bad/<case>.der    every bad-case certificate (+ <case>.key.pem)
    DIR/impostor/         the impostor CA (same DN as the auth CA, its own key)
    DIR/ca/<ca>.key.pem   the CAs' private keys (to sign extra CRLs in demos and benchmarks)
    DIR/manifest.json     what every file is, and the expected verification of each case
"""

# The PINs and passwords below are those of synthetic test cards, written to card.json on purpose.
# ruff: noqa: S106

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .san import (
    OID_ADDRESS,
    OID_ADDRESS_SUBSTITUTE,
    OID_BIRTH_DATE,
    OID_NAME,
    OID_NAME_SUBSTITUTE,
    OID_SEX,
)
from .signature import sign_certificate, sign_crl, sign_raw_sha256
from .verify import POLICY_AUTH, POLICY_SIGN, TEST_POLICY_AUTH, TEST_POLICY_SIGN

__all__ = [
    "AUTH_CA_NAME",
    "SIGN_CA_NAME",
    "TestPki",
    "build_large_crl_der",
    "ca_name",
    "make_test_pki",
]

CPS_URI = "https://www.example.invalid/jpki-devtest/cps"
_LONG_OU = "Japan Agency for Local Authority Information Systems"


def ca_name(purpose: str, organization: str = "JPKI-DEVTEST") -> x509.Name:
    """The DN of a CA shaped like J-LIS's: C (PrintableString), O and OUs in UTF8String."""
    ou = "JPKI for user authentication" if purpose == "auth" else "JPKI for digital signature"
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _LONG_OU),
        ]
    )


AUTH_CA_NAME = ca_name("auth")
SIGN_CA_NAME = ca_name("sign")


def _ca_alt_name(purpose: str) -> x509.Name:
    ou = "公的個人認証サービス利用者証明用" if purpose == "auth" else "公的個人認証サービス署名用"
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "公的個人認証サービス（開発試験用）"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "地方公共団体情報システム機構"),
        ]
    )


def _jst_end(day: date) -> datetime:
    """23:59:59 JST of ``day`` = 14:59:59Z, J-LIS's notAfter convention."""
    return datetime(day.year, day.month, day.day, 14, 59, 59, tzinfo=UTC)


def _fifth_birthday(issued: datetime, birth: date) -> date:
    year = issued.year + 5
    try:
        return birth.replace(year=year)
    except ValueError:  # 29 February
        return date(year, 3, 1)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class _Ca:
    label: str
    purpose: str
    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    next_serial: int

    @property
    def ski(self) -> x509.SubjectKeyIdentifier:
        return self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value

    def serial(self) -> int:
        self.next_serial += 1
        return self.next_serial


@dataclass(frozen=True)
class _Person:
    card: str
    name: str
    name_substitute: str
    sex: str
    era: int
    birth: date
    address: str
    address_substitute: str
    prefecture: str
    city: str
    pin: str
    password: str | None


@dataclass
class TestPki:
    """Paths and manifest of a generated test PKI."""

    root: str
    manifest: dict[str, Any] = field(default_factory=dict)

    __test__ = False  # not a pytest test class, despite the name

    @property
    def trust_dir(self) -> str:
        """Directory for JPKI_TRUST_DIR."""
        return os.path.join(self.root, "trust")

    @property
    def crl_dir(self) -> str:
        """Directory for JPKI_CRL_DIR (current, good CRLs)."""
        return os.path.join(self.root, "crl")

    @property
    def bad_crl_dir(self) -> str:
        """Expired and wrongly signed CRLs."""
        return os.path.join(self.root, "crl-bad")

    def path(self, relative: str) -> str:
        """Absolute path of a file named in the manifest."""
        return os.path.join(self.root, relative)

    def read(self, relative: str) -> bytes:
        """Bytes of a file named in the manifest."""
        with open(self.path(relative), "rb") as fh:
            return fh.read()

    def card_dir(self, name: str) -> str:
        """Directory of one card."""
        return os.path.join(self.root, "cards", name)


class _Writer:
    def __init__(self, root: str) -> None:
        self.root = root
        self.files: dict[str, str] = {}

    def write(self, relative: str, data: bytes, description: str) -> str:
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        if relative.endswith(".key.pem"):
            os.chmod(path, 0o600)
        self.files[relative] = description
        return relative


def _make_ca(
    purpose: str,
    label: str,
    not_before: datetime,
    not_after: datetime,
    serial: int,
    key: rsa.RSAPrivateKey,
    name: x509.Name | None = None,
) -> _Ca:
    subject = name or ca_name(purpose)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.DirectoryName(_ca_alt_name(purpose))]),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.DirectoryName(subject)], None, None, None)]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    cert = sign_certificate(builder, key)
    return _Ca(label, purpose, cert, key, serial << 24)


def _ku(
    *, ds: bool = True, nr: bool = False, cert_sign: bool = False, key_enc: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=ds,
        content_commitment=nr,
        key_encipherment=key_enc,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _other_name(oid: str, text: str) -> x509.OtherName:
    raw = text.encode("utf-8")
    if len(raw) < 0x80:
        header = bytes([0x0C, len(raw)])
    elif len(raw) < 0x100:
        header = bytes([0x0C, 0x81, len(raw)])
    else:
        header = bytes([0x0C, 0x82]) + len(raw).to_bytes(2, "big")
    # cryptography wraps this UTF8String in the otherName's [0] EXPLICIT itself.
    return x509.OtherName(ObjectIdentifier(oid), header + raw)


def _facts_san(person: _Person) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [
            _other_name(OID_NAME, person.name),
            _other_name(OID_NAME_SUBSTITUTE, person.name_substitute),
            _other_name(OID_SEX, person.sex),
            _other_name(OID_BIRTH_DATE, f"{person.era}{person.birth:%Y%m%d}"),
            _other_name(OID_ADDRESS, person.address),
            _other_name(OID_ADDRESS_SUBSTITUTE, person.address_substitute),
        ]
    )


class _Factory:
    """Builds leaves with the JPKI profile; every knob a bad case needs is a parameter."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.counter = 0

    def auth_subject(self) -> x509.Name:
        # JPKI auth CNs are opaque alphanumerics (23 characters on one test card); derive them
        # from a counter so runs are reproducible.
        self.counter += 1
        digest = hashlib.sha256(f"devtest-auth-{self.counter}".encode()).hexdigest().upper()
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.COMMON_NAME, digest[:23]),
            ]
        )

    def sign_subject(self, prefecture: str, city: str) -> x509.Name:
        self.counter += 1
        stamp = self.now.strftime("%Y%m%d%H%M%S")
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.LOCALITY_NAME, prefecture),
                x509.NameAttribute(NameOID.LOCALITY_NAME, city),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{stamp}{self.counter:06d}A0"),
            ]
        )

    def leaf(
        self,
        issuer: _Ca,
        key: rsa.RSAPrivateKey,
        *,
        kind: str,
        not_before: datetime,
        not_after: datetime,
        person: _Person | None = None,
        subject: x509.Name | None = None,
        key_usage: x509.KeyUsage | None = None,
        policy: str | None = "default",
        aki: x509.AuthorityKeyIdentifier | None = None,
        serial: int | None = None,
    ) -> x509.Certificate:
        if subject is None:
            if kind == "auth":
                subject = self.auth_subject()
            else:
                assert person is not None  # noqa: S101 - internal invariant of the generator
                subject = self.sign_subject(person.prefecture, person.city)
        if key_usage is None:
            key_usage = _ku(ds=True, nr=kind == "sign")
        if policy == "default":
            policy = POLICY_AUTH if kind == "auth" else POLICY_SIGN
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial if serial is not None else issuer.serial())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(key_usage, critical=True)
            .add_extension(
                aki or x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer.ski),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        if policy is not None:
            qualifiers: list[str | x509.UserNotice] | None = [CPS_URI] if kind == "sign" else None
            builder = builder.add_extension(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(ObjectIdentifier(policy), qualifiers)]
                ),
                critical=kind == "sign",
            )
        if kind == "sign" and person is not None:
            dp = x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI-DEVTEST"),
                    x509.NameAttribute(
                        NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for digital signature"
                    ),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "CRL Distribution Points"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, person.prefecture),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"{person.city} CRLDP"),
                ]
            )
            builder = builder.add_extension(_facts_san(person), critical=False)
        else:
            dp = x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI-DEVTEST"),
                    x509.NameAttribute(
                        NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication"
                    ),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "CRL Distribution Points"),
                ]
            )
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.DirectoryName(dp)], None, None, None)]
            ),
            critical=False,
        )
        return sign_certificate(builder, issuer.key)


def _crl(
    ca: _Ca,
    number: int,
    this_update: datetime,
    next_update: datetime,
    entries: list[tuple[int, x509.ReasonFlags | None]],
    signer_key: rsa.RSAPrivateKey | None = None,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca.ski), critical=False
        )
    )
    for serial, reason in entries:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(this_update - timedelta(hours=2))
        )
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return sign_crl(builder, signer_key or ca.key)


_PEOPLE = [
    _Person(
        card="taro",
        name="山田　太郎",
        name_substitute="00000",
        sex="1",
        era=3,
        birth=date(1975, 4, 5),
        address="見本県試験市中央一丁目２番３号",
        address_substitute="0" * 15,
        prefecture="Mihon-ken",
        city="Shiken-shi",
        pin="1234",
        password="ABC123",
    ),
    _Person(
        card="moved",
        name="鈴木　花子",
        name_substitute="00000",
        sex="2",
        era=4,
        birth=date(1992, 8, 17),
        address="見本県試験市北町四丁目５番６号",
        address_substitute="0" * 14,
        prefecture="Mihon-ken",
        city="Shiken-shi",
        pin="2345",
        password="HANAKO2024",
    ),
    _Person(
        card="child",
        name="佐藤　次郎",
        name_substitute="00000",
        sex="1",
        era=4,
        birth=date(2016, 6, 1),
        address="見本県試験市南町七丁目８番９号",
        address_substitute="0" * 14,
        prefecture="Mihon-ken",
        city="Shiken-shi",
        pin="3456",
        password=None,
    ),
    _Person(
        card="renewed",
        name="高橋　健一",
        name_substitute="00000",
        sex="1",
        era=3,
        birth=date(1958, 11, 3),
        address="見本県手本町大字見本１０番地",
        address_substitute="0" * 13,
        prefecture="Mihon-ken",
        city="Tehon-machi",
        pin="4567",
        password="KENICHI58",
    ),
    _Person(
        card="gaiji",
        name="渡辺　高子",
        name_substitute="10010",
        sex="2",
        era=2,
        birth=date(1925, 3, 15),
        address="見本県試験市旧町１丁目１番地",
        address_substitute="00010000000000",
        prefecture="Mihon-ken",
        city="Shiken-shi",
        pin="5678",
        password="TAKAKO1925",
    ),
    _Person(
        card="g1",
        name="伊藤　ひかり",
        name_substitute="000000",
        sex="2",
        era=4,
        birth=date(2000, 1, 1),
        address="見本県試験市西町二丁目３番地",
        address_substitute="0" * 14,
        prefecture="Mihon-ken",
        city="Shiken-shi",
        pin="6789",
        password="HIKARI2000",
    ),
]


def _issue_pair(
    out: _Writer,
    factory: _Factory,
    cas: dict[str, _Ca],
    person: _Person,
    gen: str,
    prefix: str,
    issued_at: datetime,
    expiry: datetime,
) -> dict[str, x509.Certificate]:
    """Issue a resident's auth (and, with a password, signing) certificate and write them."""
    base = f"cards/{person.card}"
    auth_key = _new_key()
    auth = factory.leaf(
        cas[f"auth_{gen}"], auth_key, kind="auth", not_before=issued_at, not_after=expiry
    )
    out.write(f"{base}/{prefix}auth.der", _der(auth), f"{person.card}: auth certificate")
    out.write(f"{base}/{prefix}auth.key.pem", _key_pem(auth_key), "PKCS#8 auth key")
    pair = {"auth": auth}
    if person.password is not None:
        sign_key = _new_key()
        sign = factory.leaf(
            cas[f"sign_{gen}"],
            sign_key,
            kind="sign",
            person=person,
            not_before=issued_at,
            not_after=expiry,
        )
        out.write(f"{base}/{prefix}sign.der", _der(sign), f"{person.card}: signing certificate")
        out.write(f"{base}/{prefix}sign.key.pem", _key_pem(sign_key), "PKCS#8 sign key")
        pair["sign"] = sign
    return pair


def make_test_pki(directory: str, *, now: datetime | None = None) -> TestPki:
    """Generate the whole test PKI into ``directory`` and return its paths and manifest.

    About twenty RSA-2048 keys are generated (a second or two); build it once per test session.
    ``now`` fixes the reference time (default: the current time, to the second).
    """
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    out = _Writer(directory)
    factory = _Factory(now)
    day = timedelta(days=1)

    # --- CAs: two generations per purpose sharing one DN, plus the impostor ------------------
    g1_not_before = now - 9 * 365 * day
    g1_not_after = _jst_end((now + 60 * day).date())
    g2_not_before = now - 2 * 365 * day
    g2_not_after = _jst_end((now + 8 * 365 * day).date())
    cas: dict[str, _Ca] = {}
    for purpose, first in (("auth", 0x01), ("sign", 0x02)):
        cas[f"{purpose}_g1"] = _make_ca(
            purpose, f"{purpose}_g1", g1_not_before, g1_not_after, first, _new_key()
        )
        cas[f"{purpose}_g2"] = _make_ca(
            purpose, f"{purpose}_g2", g2_not_before, g2_not_after, first << 8 | 0x33, _new_key()
        )
    impostor = _make_ca("auth", "impostor", g2_not_before, g2_not_after, 0x66, _new_key())
    for label, ca in cas.items():
        generation = label[-2:].upper()
        out.write(
            f"trust/{label}.der" if label != "sign_g2" else f"trust/{label}.pem",
            _der(ca.cert)
            if label != "sign_g2"
            else ca.cert.public_bytes(serialization.Encoding.PEM),
            f"trust anchor: {ca.purpose} CA {generation} (same DN as the other generation)",
        )
    for label, ca in cas.items():
        out.write(
            f"ca/{label}.key.pem",
            _key_pem(ca.key),
            f"private key of CA {label}: test material, for signing extra CRLs in demos/benches",
        )
    out.write(
        "impostor/impostor_ca.der",
        _der(impostor.cert),
        "impostor CA: copies the auth CA's DN, own key; NOT a trust anchor",
    )
    out.write("impostor/impostor_ca.key.pem", _key_pem(impostor.key), "impostor CA key")

    cases: dict[str, dict[str, Any]] = {}
    cards: dict[str, dict[str, Any]] = {}
    revoked: dict[str, list[tuple[int, x509.ReasonFlags | None]]] = {k: [] for k in cas}

    def case(name: str, file: str, usage: str, expected: str | None, **extra: Any) -> None:
        cases[name] = {"file": file, "usage": usage, "expected": expected, **extra}

    # --- residents -------------------------------------------------------------------------
    for person in _PEOPLE:
        gen = "g1" if person.card == "g1" else "g2"
        issued = now - (4 * 365 * day if gen == "g1" else 120 * day)
        cap = cas[f"auth_{gen}"].cert.not_valid_after_utc
        not_after = min(_jst_end(_fifth_birthday(issued, person.birth)), cap)
        base = f"cards/{person.card}"
        meta: dict[str, Any] = {
            "card": person.card,
            "pin": person.pin,
            "password": person.password,
            "generation": gen.upper(),
            "has_sign_certificate": person.password is not None,
        }

        if person.card == "renewed":
            old = _issue_pair(
                out, factory, cas, person, gen, "old_", now - 700 * day, now + 30 * day
            )
            revoked["auth_g2"].append((old["auth"].serial_number, x509.ReasonFlags.superseded))
            revoked["sign_g2"].append((old["sign"].serial_number, x509.ReasonFlags.superseded))
            case("renewed_old_auth", f"{base}/old_auth.der", "auth", "revoked")
            case("renewed_old_sign", f"{base}/old_sign.der", "sign", "revoked")
        pair = _issue_pair(out, factory, cas, person, gen, "", issued, not_after)
        out.write(f"{base}/auth_ca.der", _der(cas[f"auth_{gen}"].cert), "auth CA (EF 000B)")
        if "sign" in pair:
            out.write(f"{base}/sign_ca.der", _der(cas[f"sign_{gen}"].cert), "sign CA (EF 0002)")
        meta["auth_serial"] = f"{pair['auth'].serial_number:X}"
        case(f"{person.card}_auth", f"{base}/auth.der", "auth", None)
        if "sign" in pair:
            meta["sign_serial"] = f"{pair['sign'].serial_number:X}"
            meta["facts"] = {
                "name": person.name,
                "name_substitute": person.name_substitute,
                "sex": person.sex,
                "birth": f"{person.era}{person.birth:%Y%m%d}",
                "address": person.address,
                "address_substitute": person.address_substitute,
            }
            if person.card == "moved":
                revoked["sign_g2"].append(
                    (pair["sign"].serial_number, x509.ReasonFlags.affiliation_changed)
                )
                case("moved_sign", f"{base}/sign.der", "sign", "revoked")
            else:
                case(f"{person.card}_sign", f"{base}/sign.der", "sign", None)
            # A signing certificate presented for login.
            case(f"{person.card}_sign_for_login", f"{base}/sign.der", "auth", "wrong_purpose")
        out.write(
            f"{base}/card.json",
            json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8"),
            f"{person.card}: PIN, password and metadata for the emulated card",
        )
        cards[person.card] = meta

    # --- bad cases -------------------------------------------------------------------------
    bad_key = _new_key()
    bad_key_pem = _key_pem(bad_key)
    auth_g2, sign_g2, auth_g1 = cas["auth_g2"], cas["sign_g2"], cas["auth_g1"]
    typical_end = now + 4 * 365 * day

    def bad(
        name: str,
        cert: x509.Certificate | bytes,
        desc: str,
        usage: str,
        expected: str,
        **extra: Any,
    ) -> None:
        data = cert if isinstance(cert, bytes) else _der(cert)
        out.write(f"bad/{name}.der", data, desc)
        out.write(f"bad/{name}.key.pem", bad_key_pem, f"key of bad/{name}.der")
        case(name, f"bad/{name}.der", usage, expected, **extra)

    leaf = factory.leaf
    bad(
        "expired",
        leaf(
            auth_g2,
            bad_key,
            kind="auth",
            not_before=now - 400 * day,
            not_after=_jst_end((now - 30 * day).date()),
        ),
        "auth leaf whose notAfter is past",
        "auth",
        "expired",
    )
    bad(
        "not_yet_valid",
        leaf(auth_g2, bad_key, kind="auth", not_before=now + 30 * day, not_after=typical_end),
        "auth leaf whose notBefore is in the future",
        "auth",
        "not_yet_valid",
    )
    revoked_auth = leaf(
        auth_g2, bad_key, kind="auth", not_before=now - 200 * day, not_after=typical_end
    )
    revoked["auth_g2"].append((revoked_auth.serial_number, x509.ReasonFlags.key_compromise))
    bad(
        "revoked_auth",
        revoked_auth,
        "auth leaf on the current auth CRL (keyCompromise: lost)",
        "auth",
        "revoked",
    )
    # The same certificate on an emulated card, so a demo can show a revoked login.
    out.write("cards/lost/auth.der", _der(revoked_auth), "lost: revoked auth certificate")
    out.write("cards/lost/auth.key.pem", bad_key_pem, "PKCS#8 auth key")
    out.write("cards/lost/auth_ca.der", _der(auth_g2.cert), "auth CA (EF 000B)")
    cards["lost"] = {
        "card": "lost",
        "pin": "7890",
        "password": None,
        "generation": "G2",
        "has_sign_certificate": False,
        "auth_serial": f"{revoked_auth.serial_number:X}",
        "note": "reported lost: the auth certificate is revoked (keyCompromise)",
    }
    out.write(
        "cards/lost/card.json",
        json.dumps(cards["lost"], ensure_ascii=False, indent=2).encode("utf-8"),
        "lost: PIN and metadata for the emulated card",
    )
    bad(
        "impostor",
        leaf(impostor, bad_key, kind="auth", not_before=now - day, not_after=typical_end),
        "auth leaf signed by the impostor CA (same DN, other key)",
        "auth",
        "untrusted_issuer",
    )
    bad(
        "impostor_spoofed_aki",
        leaf(
            impostor,
            bad_key,
            kind="auth",
            not_before=now - day,
            not_after=typical_end,
            aki=x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(auth_g2.ski),
        ),
        "impostor-signed auth leaf claiming the genuine CA's key id",
        "auth",
        "untrusted_issuer",
    )
    bad(
        "impostor_ca",
        impostor.cert,
        "the impostor CA itself, as if read from a card",
        "auth",
        "untrusted_issuer",
    )
    bad(
        "cross_purpose",
        leaf(sign_g2, bad_key, kind="auth", not_before=now - day, not_after=typical_end),
        "auth-profile leaf issued by the signing CA",
        "auth",
        "wrong_purpose",
    )
    self_name = factory.auth_subject()
    self_signed = sign_certificate(
        x509.CertificateBuilder()
        .subject_name(self_name)
        .issuer_name(self_name)
        .public_key(bad_key.public_key())
        .serial_number(0x5E1F)
        .not_valid_before(now - day)
        .not_valid_after(typical_end)
        .add_extension(_ku(), critical=True)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(ObjectIdentifier(POLICY_AUTH), None)]),
            critical=False,
        ),
        bad_key,
    )
    bad("self_signed", self_signed, "self-signed auth-shaped leaf", "auth", "untrusted_issuer")
    bad(
        "ku_certsign_only",
        leaf(
            auth_g2,
            bad_key,
            kind="auth",
            not_before=now - day,
            not_after=typical_end,
            key_usage=_ku(ds=False, cert_sign=True),
        ),
        "auth leaf with keyUsage keyCertSign only",
        "auth",
        "wrong_usage",
    )
    bad(
        "ku_no_digital_signature",
        leaf(
            auth_g2,
            bad_key,
            kind="auth",
            not_before=now - day,
            not_after=typical_end,
            key_usage=_ku(ds=False, key_enc=True),
        ),
        "auth leaf with keyEncipherment but no digitalSignature",
        "auth",
        "wrong_usage",
    )
    gaiji = _PEOPLE[4]
    bad(
        "sign_no_nonrepudiation",
        leaf(
            sign_g2,
            bad_key,
            kind="sign",
            person=gaiji,
            not_before=now - day,
            not_after=typical_end,
            key_usage=_ku(ds=True, nr=False),
        ),
        "signing leaf without nonRepudiation",
        "sign",
        "wrong_usage",
    )
    bad(
        "test_policy_auth",
        leaf(
            auth_g2,
            bad_key,
            kind="auth",
            not_before=now - day,
            not_after=typical_end,
            policy=TEST_POLICY_AUTH,
        ),
        "auth leaf with the test-hierarchy policy (inferred OID)",
        "auth",
        "wrong_policy",
        test_mode_expected=None,
    )
    bad(
        "test_policy_sign",
        leaf(
            sign_g2,
            bad_key,
            kind="sign",
            person=gaiji,
            not_before=now - day,
            not_after=typical_end,
            policy=TEST_POLICY_SIGN,
        ),
        "signing leaf with the test-hierarchy policy 1.2.392.200149.8.5.1.0.20",
        "sign",
        "wrong_policy",
        test_mode_expected=None,
    )
    bad(
        "no_policy",
        leaf(
            auth_g2, bad_key, kind="auth", not_before=now - day, not_after=typical_end, policy=None
        ),
        "auth leaf without certificatePolicies",
        "auth",
        "wrong_policy",
    )
    outlives = leaf(
        auth_g1,
        bad_key,
        kind="auth",
        not_before=now - 300 * day,
        not_after=g1_not_after + 365 * day,
    )
    bad(
        "leaf_outlives_anchor",
        outlives,
        "G1 auth leaf valid beyond G1's notAfter: refused once the anchor has expired",
        "auth",
        "expired",
        at=(g1_not_after + 10 * day).isoformat(),
        now_expected=None,
    )
    good = _der(leaf(auth_g2, bad_key, kind="auth", not_before=now - day, not_after=typical_end))
    bad("truncated", good[: len(good) // 2], "auth certificate cut mid-way", "auth", "malformed")
    bad(
        "trailing",
        good + b"\x00\x00",
        "auth certificate with 2 bytes after it",
        "auth",
        "malformed",
    )
    declared = int.from_bytes(good[2:4], "big") + 1
    bad(
        "bad_length",
        good[:2] + declared.to_bytes(2, "big") + good[4:] + b"\x00",
        "length header 1 byte longer than the certificate (padded to match)",
        "auth",
        "malformed",
    )
    bad("not_der", b"\x30\x80" + good[4:], "indefinite-length header", "auth", "malformed")

    # --- CRLs ------------------------------------------------------------------------------
    fill: dict[str, list[tuple[int, x509.ReasonFlags | None]]] = {
        "auth_g2": [
            (0x7A000001, x509.ReasonFlags.cessation_of_operation),
            (0x7A000002, x509.ReasonFlags.certificate_hold),
            (0x7A000003, None),
        ],
        "sign_g2": [
            (0x7B000001, x509.ReasonFlags.cessation_of_operation),
            (0x7B000002, x509.ReasonFlags.unspecified),
        ],
        "sign_g1": [(0x7C000001, x509.ReasonFlags.key_compromise)],
        "auth_g1": [],
    }
    current = (now - timedelta(hours=1), now + day - timedelta(hours=1))
    crl_numbers = {"auth_g1": 7, "auth_g2": 42, "sign_g1": 5, "sign_g2": 42}
    crl_info: dict[str, dict[str, Any]] = {}
    for label, ca in cas.items():
        entries = revoked[label] + fill[label]
        crl = _crl(ca, crl_numbers[label], current[0], current[1], entries)
        as_pem = label == "auth_g2"
        data = (
            crl.public_bytes(serialization.Encoding.PEM)
            if as_pem
            else crl.public_bytes(serialization.Encoding.DER)
        )
        rel = out.write(
            f"crl/{label}.crl",
            data,
            f"current CRL #{crl_numbers[label]} of {label} ({len(entries)} entries"
            + (", empty" if not entries else "")
            + (", PEM" if as_pem else ", DER")
            + ")",
        )
        crl_info[rel] = {"ca": label, "number": crl_numbers[label], "entries": len(entries)}
    # An older, still-current CRL of auth G2 that lacks the lost card: the highest number wins.
    older = _crl(
        auth_g2,
        41,
        now - 2 * timedelta(hours=1),
        now + day - 2 * timedelta(hours=1),
        [e for e in revoked["auth_g2"] if e[0] != revoked_auth.serial_number],
    )
    out.write(
        "crl/auth_g2_previous.crl",
        older.public_bytes(serialization.Encoding.DER),
        "older current CRL #41 of auth G2 without the lost card (superseded by #42)",
    )
    expired_crl = _crl(auth_g2, 40, now - 3 * day, now - 2 * day, [])
    out.write(
        "crl-bad/auth_g2_expired.crl",
        expired_crl.public_bytes(serialization.Encoding.DER),
        "expired CRL #40 of auth G2 (nextUpdate past)",
    )
    wrong = _crl(auth_g2, 999, current[0], current[1], [], signer_key=impostor.key)
    out.write(
        "crl-bad/auth_g2_wrong_key.crl",
        wrong.public_bytes(serialization.Encoding.DER),
        "CRL #999 naming auth G2 (DN and key id) but signed by the impostor key",
    )

    manifest: dict[str, Any] = {
        "generated_at": now.isoformat(),
        "note": "JPKI-DEVTEST: generated test material, never production",
        "anchors": {
            label: {
                "file": f"trust/{label}." + ("pem" if label == "sign_g2" else "der"),
                "fingerprint": hashlib.sha256(_der(ca.cert)).hexdigest().upper(),
                "not_after": ca.cert.not_valid_after_utc.isoformat(),
            }
            for label, ca in cas.items()
        },
        "impostor_fingerprint": hashlib.sha256(_der(impostor.cert)).hexdigest().upper(),
        "cards": cards,
        "cases": cases,
        "crls": crl_info,
        "files": out.files,
    }
    out.write(
        "manifest.json",
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8"),
        "this manifest",
    )
    return TestPki(directory, manifest)


# --- a hand-built large CRL (the CRL builder is too slow for a million entries) ----------------


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def _int(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return _tlv(0x02, raw)


def _utctime(value: datetime) -> bytes:
    return _tlv(0x17, value.astimezone(UTC).strftime("%y%m%d%H%M%SZ").encode())


def build_large_crl_der(
    issuer: x509.Certificate,
    key: rsa.RSAPrivateKey,
    serials: list[int],
    *,
    number: int,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """A v2 CRL with one entry (reason keyCompromise) per serial, DER-encoded by hand and signed
    sha256WithRSAEncryption. For benchmarks: a million entries take seconds, not minutes."""
    alg = bytes.fromhex("300d06092a864886f70d01010b0500")
    revocation = _utctime(this_update - timedelta(hours=1))
    reason_ext = bytes.fromhex("300c300a0603551d1504030a0101")
    entries = b"".join(_tlv(0x30, _int(s) + revocation + reason_ext) for s in serials)
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = _tlv(0x30, bytes.fromhex("0603551d23") + _tlv(0x04, _tlv(0x30, _tlv(0x80, ski))))
    crl_number = _tlv(0x30, bytes.fromhex("0603551d14") + _tlv(0x04, _int(number)))
    tbs = _tlv(
        0x30,
        _int(1)
        + alg
        + issuer.subject.public_bytes()
        + _utctime(this_update)
        + _utctime(next_update)
        + (_tlv(0x30, entries) if serials else b"")
        + _tlv(0xA0, _tlv(0x30, aki + crl_number)),
    )
    signature = sign_raw_sha256(key, tbs)
    return _tlv(0x30, tbs + alg + _tlv(0x03, b"\x00" + signature))
