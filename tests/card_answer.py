"""What the card client sends, made in the test process: fetch the challenge for a code, sign
it with a test card's private key and post the answer (for browser tests that need a verified
card but not the PC/SC stack), and binding a test card to a member."""

from __future__ import annotations

import base64

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.auth.jpki.signature import login_message
from app.auth.jpki.testpki import TestPki
from app.auth.jpki.verify import verify_certificate
from app.auth.jpki_web import cert_key, jpki_settings
from app.auth.models import CertificateBinding, User
from app.db import utcnow
from app.extensions import db


def answer_as_card(base: str, code: str, pki: TestPki, card: str = "taro") -> None:
    info = requests.get(f"{base}/auth/jpki/challenge/{code}", timeout=10).json()
    key = serialization.load_pem_private_key(pki.read(f"cards/{card}/auth.key.pem"), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    message = login_message(info["origin"], info["challenge_id"], base64.b64decode(info["nonce"]))
    answer = {
        "challenge_id": info["challenge_id"],
        "certificate": base64.b64encode(pki.read(f"cards/{card}/auth.der")).decode(),
        "signature": base64.b64encode(
            key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        ).decode(),
    }
    response = requests.post(f"{base}/auth/jpki/response", json=answer, timeout=10)
    assert response.status_code == 200, response.text


def bind_card(pki: TestPki, user: User, card: str = "taro") -> None:
    """Bind a test card's certificate to a member, as the binding page would."""
    result = verify_certificate(
        pki.read(f"cards/{card}/auth.der"), "auth", utcnow(), jpki_settings()
    )
    assert result.ok, result.reason
    assert result.certificate is not None
    db.session.add(
        CertificateBinding(
            cert_key=cert_key(result.anchor_fingerprint, result.serial, result.spki_sha256),
            user_id=user.id,
            serial_hint=result.serial[-4:],
            not_after=result.certificate.not_valid_after_utc,
        )
    )
    db.session.commit()
