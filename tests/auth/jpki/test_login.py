"""Login message, RSASSA-PKCS1-v1_5 signature checks and the challenge layer."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth.jpki.login import (
    CHALLENGE_TTL,
    CODE_ALPHABET,
    Challenge,
    challenge_json,
    decode_login_response,
    new_challenge,
    normalize_code,
    verify_login_response,
)
from app.auth.jpki.settings import JpkiSettings
from app.auth.jpki.signature import (
    DIGEST_INFO_SHA1_PREFIX,
    digest_info_sha256,
    login_message,
    sign_digest_info,
    verify_login_signature,
)
from app.auth.jpki.testpki import TestPki

ORIGIN = "https://sankaku.example.jp"


def _key(pki: TestPki, card: str, kind: str = "auth") -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pki.read(f"cards/{card}/{kind}.key.pem"), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _card_sign(key: rsa.RSAPrivateKey, message: bytes) -> bytes:
    """What the card returns for COMPUTE DIGITAL SIGNATURE over SHA-256(message)."""
    return sign_digest_info(key, digest_info_sha256(message))


def test_login_message_is_canonical() -> None:
    nonce = bytes(range(32))
    message = login_message(ORIGIN, "abc_-123", nonce)
    assert message == (
        b"sankaku-jpki-login-v1\nhttps://sankaku.example.jp\nabc_-123\n" + base64.b64encode(nonce)
    )
    assert message.endswith(b"=")  # standard base64 with padding
    with pytest.raises(ValueError, match="line breaks"):
        login_message(ORIGIN + "\nx", "id", nonce)


def test_card_signature_matches_library_pkcs1(pki: TestPki) -> None:
    # The emulated card's raw RSA must equal a PKCS#1 v1.5 signature: verify it with the
    # standard verifier, which rebuilds the padding itself.
    key = _key(pki, "taro")
    cert = x509.load_der_x509_certificate(pki.read("cards/taro/auth.der"))
    message = login_message(ORIGIN, "id1", b"\x01" * 32)
    signature = _card_sign(key, message)
    assert len(signature) == 256
    assert verify_login_signature(cert, signature, message)


@pytest.mark.parametrize(
    "other",
    [
        login_message(ORIGIN, "id1", b"\x02" * 32),  # another nonce
        login_message("https://evil.example", "id1", b"\x01" * 32),  # another origin
        login_message(ORIGIN, "id2", b"\x01" * 32),  # another challenge id
        login_message(ORIGIN, "id1", b"\x01" * 32).replace(b"-v1", b"-v2"),  # another label
    ],
)
def test_signature_over_other_message_fails(pki: TestPki, other: bytes) -> None:
    key = _key(pki, "taro")
    cert = x509.load_der_x509_certificate(pki.read("cards/taro/auth.der"))
    message = login_message(ORIGIN, "id1", b"\x01" * 32)
    assert not verify_login_signature(cert, _card_sign(key, other), message)


def test_bit_flip_and_sha1_and_wrong_key_fail(pki: TestPki) -> None:
    key = _key(pki, "taro")
    cert = x509.load_der_x509_certificate(pki.read("cards/taro/auth.der"))
    message = login_message(ORIGIN, "id1", b"\x01" * 32)
    good = bytearray(_card_sign(key, message))
    for bit in (0, 1000, 2047):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert not verify_login_signature(cert, bytes(flipped), message)
    sha1 = sign_digest_info(key, DIGEST_INFO_SHA1_PREFIX + hashlib.sha1(message).digest())  # noqa: S324
    assert not verify_login_signature(cert, sha1, message)
    other_key = _key(pki, "moved")
    assert not verify_login_signature(cert, _card_sign(other_key, message), message)
    assert not verify_login_signature(cert, bytes(good[:-1]), message)
    assert not verify_login_signature(cert, b"", message)


def test_new_challenge_shape() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    challenge = new_challenge(ORIGIN, now=now)
    assert len(challenge.nonce) == 32
    assert challenge.expires_at - challenge.created_at == CHALLENGE_TTL == timedelta(minutes=5)
    assert re.fullmatch(f"[{CODE_ALPHABET}]{{4}}-[{CODE_ALPHABET}]{{4}}", challenge.code)
    other = new_challenge(ORIGIN, now=now)
    assert other.nonce != challenge.nonce
    assert other.challenge_id != challenge.challenge_id
    body = challenge_json(challenge)
    assert set(body) == {"challenge_id", "nonce", "origin", "expires_at"}
    assert base64.b64decode(body["nonce"]) == challenge.nonce
    assert datetime.fromisoformat(body["expires_at"]) == challenge.expires_at


def test_normalize_code() -> None:
    assert normalize_code("abcd efgh") == "ABCD-EFGH"
    assert normalize_code("ＡＢＣＤ－ＥＦＧＨ") == "ABCD-EFGH"
    assert normalize_code(" ab-cd-ef-gh ") == "ABCD-EFGH"


def test_decode_login_response() -> None:
    body = {"challenge_id": "x", "certificate": "MAA=", "signature": "AQID"}
    assert decode_login_response(body) == ("x", b"\x30\x00", b"\x01\x02\x03")
    for bad in (
        None,
        [],
        {},
        {**body, "certificate": "not base64!"},
        {**body, "signature": 5},
        {**body, "challenge_id": ""},
        {**body, "certificate": "A" * 40000},
    ):
        with pytest.raises(ValueError, match=r"."):
            decode_login_response(bad)


@pytest.fixture
def challenge() -> Challenge:
    return new_challenge(ORIGIN)


def _answer(pki: TestPki, challenge: Challenge, card: str = "taro") -> tuple[bytes, bytes]:
    message = login_message(challenge.origin, challenge.challenge_id, challenge.nonce)
    return pki.read(f"cards/{card}/auth.der"), _card_sign(_key(pki, card), message)


def test_login_response_ok_then_replay_refused(
    pki: TestPki, settings: JpkiSettings, challenge: Challenge
) -> None:
    cert, signature = _answer(pki, challenge)
    result = verify_login_response(challenge, cert, signature, settings)
    assert result.ok, result.reason
    assert result.spki_sha256
    assert result.anchor_fingerprint
    assert result.serial
    used = replace(challenge, used_at=datetime.now(UTC))
    assert verify_login_response(used, cert, signature, settings).reason == "challenge_used"


def test_login_response_challenge_states(
    pki: TestPki, settings: JpkiSettings, challenge: Challenge
) -> None:
    cert, signature = _answer(pki, challenge)
    assert verify_login_response(None, cert, signature, settings).reason == "challenge_unknown"
    late = challenge.expires_at + timedelta(seconds=1)
    assert (
        verify_login_response(challenge, cert, signature, settings, now=late).reason
        == "challenge_expired"
    )
    assert (
        verify_login_response(challenge, cert, signature, settings, now=challenge.expires_at).reason
        == "challenge_expired"
    )


def test_login_response_signature_for_other_challenge(
    pki: TestPki, settings: JpkiSettings, challenge: Challenge
) -> None:
    other = new_challenge(ORIGIN)
    cert, signature = _answer(pki, other)
    result = verify_login_response(challenge, cert, signature, settings)
    assert result.reason == "bad_signature"
    assert result.serial


def test_login_response_from_other_origin(
    pki: TestPki, settings: JpkiSettings, challenge: Challenge
) -> None:
    # A hostile site relays our challenge but the client signed its own origin.
    cert, signature = _answer(pki, replace(challenge, origin="https://evil.example"))
    assert verify_login_response(challenge, cert, signature, settings).reason == "bad_signature"


def test_login_response_certificate_checks_come_first(
    pki: TestPki, settings: JpkiSettings, challenge: Challenge
) -> None:
    message = login_message(challenge.origin, challenge.challenge_id, challenge.nonce)
    sign_cert = pki.read("cards/taro/sign.der")
    signature = _card_sign(_key(pki, "taro", "sign"), message)
    assert verify_login_response(challenge, sign_cert, signature, settings).reason == (
        "wrong_purpose"
    )
    revoked = pki.read("bad/revoked_auth.der")
    bad_key = serialization.load_pem_private_key(pki.read("bad/revoked_auth.key.pem"), None)
    assert isinstance(bad_key, rsa.RSAPrivateKey)
    assert verify_login_response(
        challenge, revoked, _card_sign(bad_key, message), settings
    ).reason == ("revoked")


def test_pkcs1_v15_is_confined_to_the_jpki_signature_module() -> None:
    """Security A13: no other code path uses RSASSA-PKCS1-v1_5."""
    app_dir = Path(__file__).resolve().parents[3] / "app"
    allowed = app_dir / "auth" / "jpki" / "signature.py"
    pattern = re.compile(r"PKCS1v15|pkcs1v15|PKCS1_v1_5|RSA_PKCS1_PADDING")
    offenders = [
        str(path.relative_to(app_dir))
        for path in app_dir.rglob("*.py")
        if path != allowed and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert pattern.search(allowed.read_text(encoding="utf-8"))
