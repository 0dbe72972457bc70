"""CRL loading, indexing and reloading."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.auth.jpki.crl import CrlError, CRLStore, index_revoked, load_crl_file
from app.auth.jpki.der import DerError
from app.auth.jpki.testpki import TestPki, build_large_crl_der
from app.auth.jpki.trust import TrustStore


@pytest.fixture(scope="module")
def trust(pki: TestPki) -> TrustStore:
    return TrustStore.load(pki.trust_dir)


@pytest.fixture(scope="module")
def own_ca() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A CA whose key these tests hold (the test PKI does not write its CA keys)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "CRL test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _crl_der(pki: TestPki, rel: str) -> bytes:
    data = pki.read(rel)
    if data.startswith(b"-----"):
        return x509.load_pem_x509_crl(data).public_bytes(serialization.Encoding.DER)
    return data


@pytest.mark.parametrize("rel", ["crl/auth_g2.crl", "crl/sign_g2.crl", "crl/sign_g1.crl"])
def test_index_matches_cryptography(pki: TestPki, rel: str) -> None:
    der = _crl_der(pki, rel)
    crl = x509.load_der_x509_crl(der)
    expected = {}
    for entry in crl:
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        expected[entry.serial_number] = reason
    index = index_revoked(der)
    assert set(index) == set(expected)
    codes = {
        x509.ReasonFlags.unspecified: 0,
        x509.ReasonFlags.key_compromise: 1,
        x509.ReasonFlags.affiliation_changed: 3,
        x509.ReasonFlags.superseded: 4,
        x509.ReasonFlags.cessation_of_operation: 5,
        x509.ReasonFlags.certificate_hold: 6,
        None: -1,
    }
    assert {s: codes[r] for s, r in expected.items()} == index


def test_empty_crl_has_empty_index(pki: TestPki) -> None:
    assert index_revoked(pki.read("crl/auth_g1.crl")) == {}


def test_large_crl_is_indexed(own_ca: tuple[x509.Certificate, rsa.RSAPrivateKey]) -> None:
    cert, key = own_ca
    now = datetime.now(UTC)
    serials = [0x10000000 + 7 * i for i in range(20000)]
    der = build_large_crl_der(
        cert, key, serials, number=3, this_update=now, next_update=now + timedelta(days=1)
    )
    crl = x509.load_der_x509_crl(der)
    assert crl.is_signature_valid(key.public_key())
    assert len(crl) == 20000
    index = index_revoked(der)
    assert len(index) == 20000
    assert index[serials[12345]] == 1
    assert serials[12345] + 1 not in index


def test_load_crl_file_checks_signature_and_issuer(pki: TestPki, trust: TrustStore) -> None:
    loaded = load_crl_file(pki.path("crl/auth_g2.crl"), trust)
    assert loaded.number == 42
    assert loaded.anchor.purpose == "auth"
    assert loaded.is_current(datetime.now(UTC))
    with pytest.raises(CrlError, match="not signed"):
        load_crl_file(pki.path("crl-bad/auth_g2_wrong_key.crl"), trust)
    expired = load_crl_file(pki.path("crl-bad/auth_g2_expired.crl"), trust)
    assert not expired.is_current(datetime.now(UTC))


def _crl_with(
    cert: x509.Certificate, key: rsa.RSAPrivateKey, ext: x509.ExtensionType | None
) -> bytes:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(cert.subject)
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .add_extension(x509.CRLNumber(1), critical=False)
    )
    if ext is not None:
        builder = builder.add_extension(ext, critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    "ext",
    [
        x509.DeltaCRLIndicator(1),
        x509.IssuingDistributionPoint(
            full_name=[x509.UniformResourceIdentifier("ldap://example.invalid/part1")],
            relative_name=None,
            only_contains_user_certs=False,
            only_contains_ca_certs=False,
            only_some_reasons=None,
            indirect_crl=False,
            only_contains_attribute_certs=False,
        ),
    ],
)
def test_partial_crls_are_refused(
    tmp_path: Path,
    own_ca: tuple[x509.Certificate, rsa.RSAPrivateKey],
    ext: x509.ExtensionType,
) -> None:
    cert, key = own_ca
    trust_dir = tmp_path / "trust"
    trust_dir.mkdir()
    (trust_dir / "ca.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    store = TrustStore.load(str(trust_dir))
    good = tmp_path / "good.crl"
    good.write_bytes(_crl_with(cert, key, None))
    assert load_crl_file(str(good), store).number == 1
    partial = tmp_path / "partial.crl"
    partial.write_bytes(_crl_with(cert, key, ext))
    with pytest.raises(CrlError, match="delta and partitioned"):
        load_crl_file(str(partial), store)


def test_store_reloads_when_files_change(pki: TestPki, trust: TrustStore, tmp_path: Path) -> None:
    crl_dir = tmp_path / "crl"
    crl_dir.mkdir()
    store = CRLStore(str(crl_dir), trust, check_interval=0)
    anchor = next(a for a in trust.anchors if a.source == "auth_g2.der")
    now = datetime.now(UTC)
    assert store.status(anchor, 1, now).state == "unknown"
    shutil.copy(pki.path("crl/auth_g2_previous.crl"), crl_dir / "a.crl")
    status = store.status(anchor, 1, now)
    assert status.state == "good"
    assert status.crl is not None
    assert status.crl.number == 41
    shutil.copy(pki.path("crl/auth_g2.crl"), crl_dir / "b.crl")
    assert store.status(anchor, 1, now).crl.number == 42  # type: ignore[union-attr]
    os.remove(crl_dir / "b.crl")
    assert store.status(anchor, 1, now).crl.number == 41  # type: ignore[union-attr]
    # A corrupt replacement is ignored (logged), not fatal.
    (crl_dir / "a.crl").write_bytes(b"garbage")
    assert store.status(anchor, 1, now).state == "unknown"


def test_store_rechecks_at_most_every_interval(
    pki: TestPki, trust: TrustStore, tmp_path: Path
) -> None:
    crl_dir = tmp_path / "crl"
    crl_dir.mkdir()
    store = CRLStore(str(crl_dir), trust, check_interval=30)
    anchor = next(a for a in trust.anchors if a.source == "auth_g2.der")
    shutil.copy(pki.path("crl/auth_g2.crl"), crl_dir / "b.crl")
    now = datetime.now(UTC)
    assert store.status(anchor, 1, now).state == "unknown"  # not re-listed yet
    store.refresh(force=True)
    assert store.status(anchor, 1, now).state == "good"


def test_unchanged_files_are_not_reparsed(pki: TestPki, trust: TrustStore, tmp_path: Path) -> None:
    crl_dir = tmp_path / "crl"
    crl_dir.mkdir()
    shutil.copy(pki.path("crl/auth_g2.crl"), crl_dir / "a.crl")
    store = CRLStore(str(crl_dir), trust, check_interval=0)
    first = store.crls()[0]
    time.sleep(0.01)
    shutil.copy(pki.path("crl/sign_g2.crl"), crl_dir / "b.crl")
    store.refresh()
    assert len(store.crls()) == 2
    assert any(c is first for c in store.crls())


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_index_revoked_only_raises_der_error(pki: TestPki, data: st.DataObject) -> None:
    der = bytearray(_crl_der(pki, "crl/sign_g2.crl"))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(der) - 1))
        der[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(der)))
    with contextlib.suppress(DerError):
        index_revoked(bytes(der[:cut]) if data.draw(st.booleans()) else bytes(der))
