"""Certificate verification: every bad case of jpki.md §6, generations, pins, test mode."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from app.auth.jpki.reasons import REASON_TEXTS, Reason, reason_text
from app.auth.jpki.settings import JpkiSettings, normalize_fingerprint
from app.auth.jpki.testpki import TestPki
from app.auth.jpki.trust import TrustStore
from app.auth.jpki.verify import load_certificate, verify_certificate

from .conftest import crl_dir_with

CASES = [
    # (case name in the manifest, expected reason or None for valid)
    "taro_auth",
    "taro_sign",
    "moved_auth",
    "moved_sign",
    "child_auth",
    "renewed_auth",
    "renewed_sign",
    "renewed_old_auth",
    "renewed_old_sign",
    "gaiji_auth",
    "gaiji_sign",
    "g1_auth",
    "g1_sign",
    "taro_sign_for_login",
    "expired",
    "not_yet_valid",
    "revoked_auth",
    "impostor",
    "impostor_spoofed_aki",
    "impostor_ca",
    "cross_purpose",
    "self_signed",
    "ku_certsign_only",
    "ku_no_digital_signature",
    "sign_no_nonrepudiation",
    "test_policy_auth",
    "test_policy_sign",
    "no_policy",
    "leaf_outlives_anchor",
    "truncated",
    "trailing",
    "bad_length",
    "not_der",
]


def test_manifest_lists_every_case_tested_here(pki: TestPki) -> None:
    assert set(CASES) <= set(pki.manifest["cases"])
    assert {"taro", "moved", "child", "renewed", "gaiji", "g1", "lost"} == set(
        pki.manifest["cards"]
    )


@pytest.mark.parametrize("name", CASES)
def test_case_gives_its_reason(pki: TestPki, settings: JpkiSettings, name: str) -> None:
    case = pki.manifest["cases"][name]
    at = datetime.fromisoformat(case["at"]) if "at" in case else None
    result = verify_certificate(pki.read(case["file"]), case["usage"], at, settings)
    assert result.reason == case["expected"]
    assert result.ok is (case["expected"] is None)


def test_leaf_outliving_anchor_is_fine_while_anchor_valid(
    pki: TestPki, settings: JpkiSettings
) -> None:
    result = verify_certificate(pki.read("bad/leaf_outlives_anchor.der"), "auth", None, settings)
    assert result.ok


def test_valid_result_fields(pki: TestPki, settings: JpkiSettings) -> None:
    der = pki.read("cards/taro/auth.der")
    cert = x509.load_der_x509_certificate(der)
    result = verify_certificate(der, "auth", None, settings)
    assert result.ok
    assert result.reason is None
    assert not result.revocation_unknown
    assert result.serial == pki.manifest["cards"]["taro"]["auth_serial"]
    assert result.serial == result.serial.upper()
    assert ":" not in result.serial
    assert result.subject == cert.subject.rfc4514_string()
    assert "O=JPKI-DEVTEST" in result.issuer
    assert result.anchor_fingerprint == pki.manifest["anchors"]["auth_g2"]["fingerprint"]
    assert result.certificate == cert
    assert result.as_json() == {
        "ok": True,
        "reason": None,
        "subject": result.subject,
        "serial": result.serial,
        "issuer": result.issuer,
    }


def test_pem_input_is_accepted(pki: TestPki, settings: JpkiSettings) -> None:
    pem = x509.load_der_x509_certificate(pki.read("cards/taro/auth.der")).public_bytes(Encoding.PEM)
    assert verify_certificate(pem, "auth", None, settings).ok
    assert verify_certificate(pem + pem, "auth", None, settings).reason == "malformed"


def test_generations_share_a_dn_but_not_a_key(pki: TestPki, tmp_path: Path) -> None:
    g1 = x509.load_der_x509_certificate(pki.read("trust/auth_g1.der"))
    g2 = x509.load_der_x509_certificate(pki.read("trust/auth_g2.der"))
    assert g1.subject == g2.subject
    assert g1.public_key() != g2.public_key()
    # Only G1 configured: a G2 leaf names the same issuer DN but must not be accepted.
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(pki.path("trust/auth_g1.der"), trust)
    only_g1 = JpkiSettings(trust_dir=str(trust), crl_dir=pki.crl_dir)
    assert verify_certificate(pki.read("cards/taro/auth.der"), "auth", None, only_g1).reason == (
        "untrusted_issuer"
    )
    assert verify_certificate(pki.read("cards/g1/auth.der"), "auth", None, only_g1).ok


def test_g1_leaf_fails_after_g1_expiry(pki: TestPki, settings: JpkiSettings) -> None:
    g1_end = datetime.fromisoformat(pki.manifest["anchors"]["auth_g1"]["not_after"])
    result = verify_certificate(
        pki.read("cards/g1/auth.der"), "auth", g1_end + timedelta(days=1), settings
    )
    assert result.reason == "expired"


def test_not_yet_valid_at_a_past_time(pki: TestPki, settings: JpkiSettings) -> None:
    cert = x509.load_der_x509_certificate(pki.read("cards/taro/auth.der"))
    before = cert.not_valid_before_utc - timedelta(seconds=1)
    result = verify_certificate(pki.read("cards/taro/auth.der"), "auth", before, settings)
    assert result.reason == "not_yet_valid"


def test_anchor_presented_as_leaf_is_wrong_usage(pki: TestPki, settings: JpkiSettings) -> None:
    result = verify_certificate(pki.read("trust/auth_g2.der"), "auth", None, settings)
    assert result.reason == "wrong_usage"


def test_sign_usage_refuses_auth_certificate(pki: TestPki, settings: JpkiSettings) -> None:
    result = verify_certificate(pki.read("cards/taro/auth.der"), "sign", None, settings)
    # An auth leaf lacks nonRepudiation, which is checked before the purpose.
    assert result.reason == "wrong_usage"


def test_cross_purpose_refused_for_sign_too(pki: TestPki, settings: JpkiSettings) -> None:
    result = verify_certificate(pki.read("bad/cross_purpose.der"), "sign", None, settings)
    assert result.reason in {"wrong_usage", "wrong_purpose"}
    assert not result.ok


@pytest.mark.parametrize(
    ("name", "usage"), [("test_policy_auth", "auth"), ("test_policy_sign", "sign")]
)
def test_test_policies_only_in_test_mode(pki: TestPki, name: str, usage: str) -> None:
    der = pki.read(f"bad/{name}.der")
    production = JpkiSettings(trust_dir=pki.trust_dir, crl_dir=pki.crl_dir)
    testing = JpkiSettings(trust_dir=pki.trust_dir, crl_dir=pki.crl_dir, test_mode=True)
    assert verify_certificate(der, usage, None, production).reason == "wrong_policy"  # type: ignore[arg-type]
    assert verify_certificate(der, usage, None, testing).ok  # type: ignore[arg-type]


def test_pins_restrict_anchors(pki: TestPki) -> None:
    g2 = pki.manifest["anchors"]["auth_g2"]["fingerprint"]
    # Colons and lower case are tolerated.
    pretty = ":".join(g2[i : i + 2] for i in range(0, 64, 2)).lower()
    pinned = JpkiSettings(trust_dir=pki.trust_dir, trust_pins=(pretty,), crl_dir=pki.crl_dir)
    assert pinned.trust_pins == (g2,)
    assert verify_certificate(pki.read("cards/taro/auth.der"), "auth", None, pinned).ok
    refused = verify_certificate(pki.read("cards/g1/auth.der"), "auth", None, pinned)
    assert refused.reason == "untrusted_issuer"


def test_pins_from_mapping_and_bad_pin() -> None:
    fp = hashlib.sha256(b"x").hexdigest()
    settings = JpkiSettings.from_mapping(
        {
            "JPKI_TRUST_DIR": "/nonexistent",
            "JPKI_TRUST_PINS": f"{fp}, {fp.upper()}",
            "JPKI_REVOCATION": "accept-unknown",
            "JPKI_TEST_MODE": "true",
        }
    )
    assert settings.trust_pins == (fp.upper(),)
    assert settings.revocation == "accept-unknown"
    assert settings.test_mode
    with pytest.raises(ValueError, match="fingerprint"):
        normalize_fingerprint("ABCD")
    with pytest.raises(ValueError, match="JPKI_REVOCATION"):
        JpkiSettings.from_mapping({"JPKI_REVOCATION": "fail-open"})
    with pytest.raises(ValueError, match="JPKI_TEST_MODE"):
        JpkiSettings.from_mapping({"JPKI_TEST_MODE": "maybe"})
    default = JpkiSettings.from_mapping({})
    assert default.revocation == "fail-closed"
    assert not default.test_mode


def test_trust_store_skips_junk_and_leaves(pki: TestPki, tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(pki.path("trust/auth_g2.der"), trust)
    shutil.copy(pki.path("trust/sign_g2.pem"), trust)
    (trust / "junk.der").write_bytes(b"\x30\x03\x02\x01\x01")
    (trust / "README").write_text("not a certificate")
    # A leaf certificate (e.g. read from a card) is not a CA and never becomes an anchor.
    shutil.copy(pki.path("cards/taro/auth.der"), trust / "leaf.der")
    store = TrustStore.load(str(trust))
    assert sorted(a.purpose or "" for a in store.anchors) == ["auth", "sign"]


def test_missing_trust_dir_trusts_nothing(pki: TestPki, tmp_path: Path) -> None:
    settings = JpkiSettings(trust_dir=str(tmp_path / "none"), crl_dir=pki.crl_dir)
    result = verify_certificate(pki.read("cards/taro/auth.der"), "auth", None, settings)
    assert result.reason == "untrusted_issuer"


def test_ca_from_card_is_not_trusted(pki: TestPki, settings: JpkiSettings) -> None:
    # The impostor's own CA certificate (what a hostile card would carry in EF 000B) changes
    # nothing: anchors come from the configured folder only.
    assert verify_certificate(pki.read("bad/impostor.der"), "auth", None, settings).reason == (
        "untrusted_issuer"
    )


def test_revocation_fail_closed_and_accept_unknown(
    pki: TestPki, tmp_path: Path, fresh_cache: None
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    der = pki.read("cards/taro/auth.der")
    closed = JpkiSettings(trust_dir=pki.trust_dir, crl_dir=str(empty))
    result = verify_certificate(der, "auth", None, closed)
    assert (result.ok, result.reason, result.revocation_unknown) == (
        False,
        "revocation_unknown",
        True,
    )
    lenient = JpkiSettings(trust_dir=pki.trust_dir, crl_dir=str(empty), revocation="accept-unknown")
    result = verify_certificate(der, "auth", None, lenient)
    assert (result.ok, result.reason, result.revocation_unknown) == (True, None, True)
    # accept-unknown never lets a revoked certificate through.
    revoked = verify_certificate(
        pki.read("bad/revoked_auth.der"),
        "auth",
        None,
        JpkiSettings(trust_dir=pki.trust_dir, crl_dir=pki.crl_dir, revocation="accept-unknown"),
    )
    assert revoked.reason == "revoked"


def test_expired_and_wrong_key_crls_are_ignored(
    pki: TestPki, tmp_path: Path, fresh_cache: None
) -> None:
    crl_dir = crl_dir_with(
        tmp_path, pki, "crl-bad/auth_g2_expired.crl", "crl-bad/auth_g2_wrong_key.crl"
    )
    settings = JpkiSettings(trust_dir=pki.trust_dir, crl_dir=crl_dir)
    result = verify_certificate(pki.read("cards/taro/auth.der"), "auth", None, settings)
    assert result.reason == "revocation_unknown"


def test_wrong_key_crl_cannot_unrevoke(pki: TestPki, tmp_path: Path, fresh_cache: None) -> None:
    # The forged CRL is empty and has the highest number; it must not hide the lost card.
    crl_dir = crl_dir_with(tmp_path, pki, "crl/auth_g2.crl", "crl-bad/auth_g2_wrong_key.crl")
    settings = JpkiSettings(trust_dir=pki.trust_dir, crl_dir=crl_dir)
    assert verify_certificate(pki.read("bad/revoked_auth.der"), "auth", None, settings).reason == (
        "revoked"
    )


def test_highest_crl_number_wins(pki: TestPki, tmp_path: Path, fresh_cache: None) -> None:
    der = pki.read("bad/revoked_auth.der")
    only_41 = crl_dir_with(tmp_path, pki, "crl/auth_g2_previous.crl")
    settings = JpkiSettings(trust_dir=pki.trust_dir, crl_dir=only_41)
    assert verify_certificate(der, "auth", None, settings).ok
    both = crl_dir_with(tmp_path / "b", pki, "crl/auth_g2_previous.crl", "crl/auth_g2.crl")
    settings = JpkiSettings(trust_dir=pki.trust_dir, crl_dir=both)
    assert verify_certificate(der, "auth", None, settings).reason == "revoked"


def test_moved_resident_sign_revoked_auth_fine(pki: TestPki, settings: JpkiSettings) -> None:
    sign = verify_certificate(pki.read("cards/moved/sign.der"), "sign", None, settings)
    auth = verify_certificate(pki.read("cards/moved/auth.der"), "auth", None, settings)
    assert (sign.reason, sign.revocation_reason) == ("revoked", "affiliationChanged")
    assert auth.ok


def test_revocation_checked_per_issuer_key(pki: TestPki, settings: JpkiSettings) -> None:
    # The G1 auth CRL is current and empty: a G1 leaf is good, which proves G1 has its own
    # CRL (with only the G2 CRL it would be revocation_unknown).
    assert verify_certificate(pki.read("cards/g1/auth.der"), "auth", None, settings).ok


@pytest.mark.parametrize(
    "data",
    [b"", b"\x30", b"\x30\x00", b"\x30\x82\xff\xff", b"not a certificate", b"\x00" * 100],
)
def test_garbage_is_malformed(settings: JpkiSettings, data: bytes) -> None:
    result = verify_certificate(data, "auth", None, settings)
    assert (result.ok, result.reason) == (False, "malformed")


def test_load_certificate_rejects_oversized() -> None:
    with pytest.raises(ValueError, match="too large"):
        load_certificate(b"\x30" + b"\x00" * 20000)


def test_invalid_usage_is_a_programming_error(settings: JpkiSettings) -> None:
    with pytest.raises(ValueError, match="usage"):
        verify_certificate(b"", "login", None, settings)  # type: ignore[arg-type]


def test_every_reason_has_both_texts() -> None:
    assert set(REASON_TEXTS) == set(Reason)
    assert {r.value for r in Reason} == {
        "malformed",
        "untrusted_issuer",
        "expired",
        "not_yet_valid",
        "wrong_usage",
        "wrong_purpose",
        "wrong_policy",
        "revoked",
        "revocation_unknown",
        "bad_signature",
        "challenge_unknown",
        "challenge_expired",
        "challenge_used",
    }
    for text in REASON_TEXTS.values():
        assert text.ja
        assert text.en
        assert text.ja != text.en
        assert any(ord(ch) > 0x3000 for ch in text.ja)
    assert reason_text("revoked").for_locale("en_US").startswith("This certificate")
    assert "zzz" in reason_text("zzz").en


def test_at_defaults_to_now_and_naive_is_utc(pki: TestPki, settings: JpkiSettings) -> None:
    der = pki.read("cards/taro/auth.der")
    aware = datetime.now(UTC)
    assert verify_certificate(der, "auth", aware.replace(tzinfo=None), settings).ok


def _ec_cert(*extensions: tuple[x509.ExtensionType, bool]) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def test_unknown_critical_extension_is_malformed(settings: JpkiSettings) -> None:
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"\x05\x00")
    critical = _ec_cert((unknown, True))
    assert verify_certificate(critical, "auth", None, settings).reason == "malformed"
    # The same extension, not critical, is ignored (the certificate then fails further on).
    relaxed = _ec_cert((unknown, False))
    assert verify_certificate(relaxed, "auth", None, settings).reason == "untrusted_issuer"


def test_walk_reads_what_cryptography_reads(pki: TestPki) -> None:
    from app.auth.jpki.certinfo import KU_DIGITAL_SIGNATURE, KU_NON_REPUDIATION, walk_certificate

    for rel in ("cards/taro/auth.der", "cards/taro/sign.der", "trust/auth_g2.der"):
        der = pki.read(rel)
        cert = x509.load_der_x509_certificate(der)
        info = walk_certificate(der)
        assert info.tbs == cert.tbs_certificate_bytes
        assert info.signature == cert.signature
        assert info.issuer == cert.issuer.public_bytes()
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert bool(info.key_usage and info.key_usage & KU_DIGITAL_SIGNATURE) == (
            ku.digital_signature
        )
        assert bool(info.key_usage and info.key_usage & KU_NON_REPUDIATION) == (
            ku.content_commitment
        )
        bc = (
            cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            if (rel.startswith("trust"))
            else None
        )
        assert info.is_ca == bool(bc and bc.ca)


def test_encode_oid(pki: TestPki) -> None:
    from app.auth.jpki.certinfo import encode_oid, walk_certificate
    from app.auth.jpki.verify import POLICY_AUTH

    assert encode_oid("2.5.29.32") == bytes.fromhex("551d20")
    # 200149 needs three base-128 bytes; the policy of a real leaf must match the encoding.
    assert walk_certificate(pki.read("cards/taro/auth.der")).policies == {encode_oid(POLICY_AUTH)}
    with pytest.raises(ValueError, match="OID"):
        encode_oid("3.1")
