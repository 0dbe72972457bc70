"""Signing-certificate basic facts (SAN otherNames) and the proxy-header entry."""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ObjectIdentifier
from hypothesis import given, settings
from hypothesis import strategies as st

from app.auth.jpki.proxy import ProxyHeaderError, certificate_from_proxy_header
from app.auth.jpki.san import (
    OID_ADDRESS,
    OID_ADDRESS_SUBSTITUTE,
    OID_BIRTH_DATE,
    OID_NAME,
    OID_NAME_SUBSTITUTE,
    OID_SEX,
    SanError,
    parse_basic_facts,
)
from app.auth.jpki.testpki import TestPki

_EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 0x80
    return bytes([0x0C, len(raw)]) + raw


def _cert_with(entries: list[tuple[str, bytes]]) -> x509.Certificate:
    """A throw-away certificate whose SAN holds the given otherName values (raw DER)."""
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "san test")])
    now = datetime.now(UTC)
    san = x509.SubjectAlternativeName(
        [x509.OtherName(ObjectIdentifier(oid), value) for oid, value in entries]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_EC_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(_EC_KEY, hashes.SHA256())
    )


def _entries() -> list[tuple[str, bytes]]:
    values = {
        OID_NAME: _utf8("Yamada Taro"),
        OID_NAME_SUBSTITUTE: _utf8("00000"),
        OID_SEX: _utf8("1"),
        OID_BIRTH_DATE: _utf8("519900102"),
        OID_ADDRESS: _utf8("Mihon"),
        OID_ADDRESS_SUBSTITUTE: _utf8("00000"),
    }
    return list(values.items())


def test_taro_basic_facts(pki: TestPki) -> None:
    cert = x509.load_der_x509_certificate(pki.read("cards/taro/sign.der"))
    facts = parse_basic_facts(cert)
    assert facts is not None
    assert facts.name == "山田　太郎"  # full-width space kept as stored
    assert facts.sex == "1"
    assert facts.birth_date == date(1975, 4, 5)
    assert (facts.birth_era, facts.birth_era_name) == (3, "昭和")
    assert facts.address == "見本県試験市中央一丁目２番３号"
    assert not facts.has_substitutes
    normalized = facts.normalized()
    assert normalized.name == "山田 太郎"
    assert normalized.address == "見本県試験市中央一丁目2番3号"
    assert facts.name == "山田　太郎"  # normalisation returns a copy


def test_substitute_flags_and_taisho_era(pki: TestPki) -> None:
    facts = parse_basic_facts(x509.load_der_x509_certificate(pki.read("cards/gaiji/sign.der")))
    assert facts is not None
    assert facts.name_substitute == "10010"
    assert facts.address_substitute.count("1") == 1
    assert facts.has_substitutes
    assert (facts.birth_era_name, facts.birth_date) == ("大正", date(1925, 3, 15))
    assert facts.sex == "2"


def test_auth_certificate_has_no_facts(pki: TestPki) -> None:
    assert (
        parse_basic_facts(x509.load_der_x509_certificate(pki.read("cards/taro/auth.der"))) is None
    )


def test_reiwa_and_partly_unknown_date() -> None:
    facts = parse_basic_facts(_cert_with(_entries()))
    assert facts is not None
    assert facts.birth_era == 5
    assert facts.birth_date == date(1990, 1, 2)
    unknown = parse_basic_facts(
        _cert_with([(OID_BIRTH_DATE, _utf8("319750000")), *_entries()[:3], *_entries()[4:]])
    )
    assert unknown is not None
    assert unknown.birth_date is None
    assert unknown.birth_date_text == "19750000"


@pytest.mark.parametrize(
    "entries",
    [
        # birth date: wrong length, letters, impossible day
        [e if e[0] != OID_BIRTH_DATE else (OID_BIRTH_DATE, _utf8("41990010")) for e in _entries()],
        [e if e[0] != OID_BIRTH_DATE else (OID_BIRTH_DATE, _utf8("4199001AB")) for e in _entries()],
        [e if e[0] != OID_BIRTH_DATE else (OID_BIRTH_DATE, _utf8("419900231")) for e in _entries()],
        # PrintableString instead of UTF8String
        [e if e[0] != OID_NAME else (OID_NAME, b"\x13\x03abc") for e in _entries()],
        # an extra [0] wrapper around the UTF8String
        [e if e[0] != OID_SEX else (OID_SEX, b"\xa0\x03" + _utf8("1")) for e in _entries()],
        # bad UTF-8, control character
        [e if e[0] != OID_NAME else (OID_NAME, b"\x0c\x02\xff\xfe") for e in _entries()],
        [e if e[0] != OID_NAME else (OID_NAME, _utf8("a\nb")) for e in _entries()],
        # one missing, one duplicated
        _entries()[:5],
        [*_entries(), (OID_SEX, _utf8("2"))],
    ],
)
def test_malformed_facts_are_refused(entries: list[tuple[str, bytes]]) -> None:
    with pytest.raises(SanError):
        parse_basic_facts(_cert_with(entries))


def test_unrelated_othernames_are_ignored() -> None:
    cert = _cert_with([("1.2.3.4", b"\x0c\x01x")])
    assert parse_basic_facts(cert) is None


# --- proxy header -------------------------------------------------------------------------


def test_proxy_header_encodings(pki: TestPki) -> None:
    der = pki.read("cards/taro/auth.der")
    pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode()
    assert certificate_from_proxy_header(quote(pem)) == der  # nginx $ssl_client_escaped_cert
    assert certificate_from_proxy_header(pem) == der
    assert certificate_from_proxy_header(base64.b64encode(der).decode()) == der


@pytest.mark.parametrize(
    "value",
    [
        "",
        None,
        "%2D%2D%2D%2D%2DBEGIN%20CERTIFICATE%ZZ",
        "!!!!",
        base64.b64encode(b"\x30\x03\x02\x01\x01\x00").decode(),  # trailing byte
        "A" * 20000,
    ],
)
def test_proxy_header_refuses(value: str | None) -> None:
    with pytest.raises(ProxyHeaderError):
        certificate_from_proxy_header(value)


def test_proxy_header_refuses_two_certificates(pki: TestPki) -> None:
    der = pki.read("cards/taro/auth.der")
    pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode()
    with pytest.raises(ProxyHeaderError):
        certificate_from_proxy_header(quote(pem + pem))
    with pytest.raises(ProxyHeaderError):
        certificate_from_proxy_header(base64.b64encode(der + b"\x00").decode())


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(max_size=300))
def test_proxy_header_only_raises_its_error(value: str) -> None:
    with contextlib.suppress(ProxyHeaderError):
        certificate_from_proxy_header(value)
