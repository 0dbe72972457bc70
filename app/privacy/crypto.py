"""Cryptographic primitives of the vault, all from `cryptography`, no home-made schemes.

- Field values: AES-256-GCM, a fresh 96-bit nonce per value, associated data naming the table,
  the record id, the field and the data-key id, so a value cannot be moved to another row or
  field. Every ciphertext starts with a format byte and its data-key id.
- Data keys (one per project) are wrapped with AES-256-GCM under the master key; the wrapped form
  carries the master key's id.
- Blind indexes: HMAC-SHA-256 with their own key (A41), for equality look-ups only.
- Sealed envelopes from the public server: HPKE (RFC 9180) base mode, DHKEM(X25519,
  HKDF-SHA256), HKDF-SHA256, AES-256-GCM; the envelope id and kind are bound as HPKE info.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_V1 = 1
NONCE_BYTES = 12
KEY_BYTES = 32
_HEADER = struct.Struct(">BI")  # format byte, data-key id

ENVELOPE_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
ENVELOPE_INFO_PREFIX = b"sankaku/vault-envelope/v1/"


class DecryptionFailed(Exception):  # noqa: N818 - reads as a verdict
    """A ciphertext did not authenticate: tampered, swapped, or under another key."""


def new_key() -> bytes:
    """32 random bytes from the operating system's CSPRNG."""
    return os.urandom(KEY_BYTES)


def key_id(key: bytes, label: str) -> str:
    """A short public id for a secret key (16 hex digits); reveals nothing about the key."""
    return hmac.new(key, b"sankaku-key-id/" + label.encode(), hashlib.sha256).hexdigest()[:16]


def field_aad(table: str, record_id: str, field: str, data_key_id: int) -> bytes:
    return f"{table}|{record_id}|{field}|{data_key_id}".encode()


def encrypt_value(key: bytes, data_key_id: int, aad: bytes, plaintext: str) -> bytes:
    """Encrypt one field value; the result carries the format byte and the data-key id."""
    nonce = os.urandom(NONCE_BYTES)
    header = _HEADER.pack(FORMAT_V1, data_key_id)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), header + aad)


def ciphertext_key_id(blob: bytes) -> int:
    """The data-key id a ciphertext was made under. Raises DecryptionFailed if malformed."""
    if len(blob) < _HEADER.size + NONCE_BYTES + 16:
        raise DecryptionFailed("ciphertext too short")
    fmt, dk_id = _HEADER.unpack_from(blob)
    if fmt != FORMAT_V1:
        raise DecryptionFailed(f"unknown ciphertext format {fmt}")
    return int(dk_id)


def decrypt_value(key: bytes, aad: bytes, blob: bytes) -> str:
    """Decrypt one field value. Raises DecryptionFailed when it does not authenticate."""
    ciphertext_key_id(blob)
    header = blob[: _HEADER.size]
    nonce = blob[_HEADER.size : _HEADER.size + NONCE_BYTES]
    try:
        plain = AESGCM(key).decrypt(nonce, blob[_HEADER.size + NONCE_BYTES :], header + aad)
    except InvalidTag as exc:
        raise DecryptionFailed("field value failed authentication") from exc
    return plain.decode()


def wrap_key(master: bytes, master_id: str, data_key: bytes, aad: bytes) -> bytes:
    """Wrap a data key under the master key: master id (16 ASCII) ‖ nonce ‖ ciphertext."""
    nonce = os.urandom(NONCE_BYTES)
    head = master_id.encode()
    return head + nonce + AESGCM(master).encrypt(nonce, data_key, head + aad)


def wrapped_master_id(wrapped: bytes) -> str:
    return wrapped[:16].decode("ascii", "replace")


def unwrap_key(master: bytes, wrapped: bytes, aad: bytes) -> bytes:
    head = wrapped[:16]
    nonce = wrapped[16 : 16 + NONCE_BYTES]
    try:
        return AESGCM(master).decrypt(nonce, wrapped[16 + NONCE_BYTES :], head + aad)
    except InvalidTag as exc:
        raise DecryptionFailed("data key failed authentication") from exc


def normalise_for_index(value: str) -> str:
    """NFKC, trimmed, inner whitespace collapsed, lower-cased: equal inputs, equal indexes."""
    return " ".join(unicodedata.normalize("NFKC", value).split()).lower()


def blind_index(index_key: bytes, domain: str, value: str) -> str:
    """HMAC-SHA-256 blind index of `value` in `domain` (email, cert, identity)."""
    message = domain.encode() + b"\x00" + normalise_for_index(value).encode()
    return hmac.new(index_key, message, hashlib.sha256).hexdigest()


def audit_mac(audit_key: bytes, previous: str, entry: bytes) -> str:
    """HMAC(previous hash ‖ entry) for the audit chain."""
    return hmac.new(audit_key, previous.encode() + b"\x00" + entry, hashlib.sha256).hexdigest()


def envelope_info(kind: str, envelope_id: str) -> bytes:
    return ENVELOPE_INFO_PREFIX + f"{kind}/{envelope_id}".encode()


def seal(public_key: X25519PublicKey, info: bytes, plaintext: bytes) -> bytes:
    """Seal to the vault's public key. Only the holder of the private key can open it."""
    return bytes(ENVELOPE_SUITE.encrypt(plaintext, public_key, info=info))


def open_sealed(private_key: X25519PrivateKey, info: bytes, sealed: bytes) -> bytes:
    """Open an envelope. Raises DecryptionFailed for a tampered or misaddressed envelope."""
    try:
        return bytes(ENVELOPE_SUITE.decrypt(sealed, private_key, info=info))
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("envelope failed authentication") from exc
