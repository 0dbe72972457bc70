"""Every RSASSA-PKCS1-v1_5 operation of the project lives in this module.

Security deviation (security.md §0.2, check A13): JPKI cards hold RSA-2048 keys and sign with
PKCS#1 v1.5 padding; certificates and CRLs of the J-LIS hierarchy are sha256WithRSAEncryption.
ASVS 5.0 Appendix C disallows PKCS#1 v1.5 signatures and rates RSA-2048 below 128 bits, but
allows a documented exception imposed by regulation. The exception is confined to the JPKI
verifier (and to the test PKI and emulated card that reproduce JPKI): no other code path may
use PKCS#1 v1.5, and a test scans the code base to keep it so.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from .der import DerError, split_signed

__all__ = [
    "DIGEST_INFO_SHA1_PREFIX",
    "DIGEST_INFO_SHA256_PREFIX",
    "LOGIN_LABEL",
    "digest_info_sha256",
    "issued_by",
    "login_message",
    "sign_certificate",
    "sign_crl",
    "sign_digest_info",
    "sign_raw_sha256",
    "signed_by",
    "signed_parts_valid",
    "verify_login_signature",
    "verify_sha256_rsa",
]

LOGIN_LABEL = b"sankaku-jpki-login-v1"
DIGEST_INFO_SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
DIGEST_INFO_SHA1_PREFIX = bytes.fromhex("3021300906052b0e03021a05000414")
MIN_RSA_BITS = 2048
# sha256WithRSAEncryption with NULL parameters (J-LIS's form) and without (also allowed).
SHA256_WITH_RSA_ALGORITHMS = (
    bytes.fromhex("300d06092a864886f70d01010b0500"),
    bytes.fromhex("300b06092a864886f70d01010b"),
)


def login_message(origin: str, challenge_id: str, nonce: bytes) -> bytes:
    """The canonical bytes the card signs for a login challenge.

    ``b"sankaku-jpki-login-v1\\n" + origin + "\\n" + challenge_id + "\\n" + base64(nonce)``
    (standard base64 with padding). The label separates these signatures from any other use of
    the key; the origin stops a hostile site relaying another site's challenge. Newlines inside
    the origin or id would make the encoding ambiguous, so they are refused (ValueError).
    """
    for part in (origin, challenge_id):
        if "\n" in part or "\r" in part:
            raise ValueError("origin and challenge id must not contain line breaks")
    return b"\n".join(
        [
            LOGIN_LABEL,
            origin.encode("utf-8"),
            challenge_id.encode("utf-8"),
            base64.b64encode(nonce),
        ]
    )


def digest_info_sha256(message: bytes) -> bytes:
    """DER DigestInfo of SHA-256(message): what COMPUTE DIGITAL SIGNATURE receives (51 bytes)."""
    return DIGEST_INFO_SHA256_PREFIX + hashlib.sha256(message).digest()


def verify_sha256_rsa(key: rsa.RSAPublicKey, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` is RSASSA-PKCS1-v1_5 with SHA-256 over ``data`` by ``key``.

    The digest is computed with hashlib and handed over pre-hashed: the same verification,
    about twice as fast as letting OpenSSL fetch its digest for every call.
    """
    if len(signature) != (key.key_size + 7) // 8:
        return False
    digest = hashlib.sha256(data).digest()
    try:
        key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def signed_by(signed_der: bytes, key: rsa.RSAPublicKey) -> bool:
    """True when the DER certificate or CRL ``signed_der`` is sha256WithRSAEncryption-signed by
    ``key``. Other signature algorithms are refused: J-LIS signs with this one only."""
    try:
        tbs, algorithm, signature = split_signed(signed_der)
    except DerError:
        return False
    return signed_parts_valid(key, tbs, algorithm, signature)


def signed_parts_valid(
    key: rsa.RSAPublicKey, tbs: bytes, algorithm: bytes, signature: bytes
) -> bool:
    """`signed_by` for an already split object (the verifier walks certificates itself)."""
    if algorithm not in SHA256_WITH_RSA_ALGORITHMS:
        return False
    return verify_sha256_rsa(key, signature, tbs)


def verify_login_signature(certificate: x509.Certificate, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is RSASSA-PKCS1-v1_5 / SHA-256 over ``message`` by the
    certificate's key (RSA, at least 2048 bits). Any other hash (e.g. a SHA-1 DigestInfo), key
    type or length is refused. Never raises on hostile input.
    """
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return False
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        return False
    return verify_sha256_rsa(key, signature, message)


def issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``certificate`` (names must match too)."""
    try:
        certificate.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def sign_certificate(builder: x509.CertificateBuilder, key: rsa.RSAPrivateKey) -> x509.Certificate:
    """Sign a certificate as J-LIS does: sha256WithRSAEncryption (PKCS#1 v1.5). Test PKI only."""
    return builder.sign(key, hashes.SHA256(), rsa_padding=padding.PKCS1v15())


def sign_crl(
    builder: x509.CertificateRevocationListBuilder, key: rsa.RSAPrivateKey
) -> x509.CertificateRevocationList:
    """Sign a CRL as J-LIS does: sha256WithRSAEncryption (PKCS#1 v1.5). Test PKI only."""
    # The CRL builder has no padding parameter; RSA keys sign it with PKCS#1 v1.5.
    return builder.sign(key, hashes.SHA256())


def sign_raw_sha256(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """sha256WithRSAEncryption signature over ``data`` (test PKI: hand-built large CRLs)."""
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def sign_digest_info(key: rsa.RSAPrivateKey, digest_info: bytes) -> bytes:
    """What the card does for COMPUTE DIGITAL SIGNATURE: PKCS#1 v1.5 type-1 padding around the
    given DigestInfo, then the raw RSA private operation. Used only by the emulated card.

    The card does not hash and signs whatever DigestInfo it gets, so this takes the DigestInfo
    bytes as they are instead of going through a hash API. Raises ValueError when the input is
    longer than k - 11 bytes.
    """
    numbers = key.private_numbers()
    n = numbers.public_numbers.n
    k = (n.bit_length() + 7) // 8
    if len(digest_info) > k - 11:
        raise ValueError("input too long for the key")
    block = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
    m = int.from_bytes(block, "big")
    # Chinese remainder theorem: two half-size exponentiations instead of one full one.
    s1 = pow(m, numbers.dmp1, numbers.p)
    s2 = pow(m, numbers.dmq1, numbers.q)
    h = (numbers.iqmp * (s1 - s2)) % numbers.p
    s = s2 + h * numbers.q
    return s.to_bytes(k, "big")
