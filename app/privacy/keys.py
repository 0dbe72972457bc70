"""Key material of the vault: where each key lives, generation for a fresh instance, the checks
that keep the public role free of secrets, and master-key rotation.

| key | roles | file under PRIVACY_KEYS_DIR | environment |
| --- | --- | --- | --- |
| master key (wraps data keys) | internal, all | master.key | PRIVACY_MASTER_KEY |
| audit key (HMAC chain) | internal, all | audit.key | PRIVACY_AUDIT_KEY |
| vault private key (X25519) | internal, all | vault_private.key | PRIVACY_VAULT_PRIVATE_KEY |
| vault public key (X25519) | public; derived | vault_public.key | PRIVACY_VAULT_PUBLIC_KEY |
| blind-index key (HMAC) | every role | index.key | PRIVACY_INDEX_KEY |

Values are URL-safe base64 of 32 raw bytes. A master-key file may hold several lines: the first
is the current key, later lines are earlier keys kept only while a rotation is in progress.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from flask import Flask, current_app

from app.privacy import crypto

FILES = {
    "master": "master.key",
    "audit": "audit.key",
    "vault_private": "vault_private.key",
    "vault_public": "vault_public.key",
    "index": "index.key",
}
SECRET_KINDS = ("master", "audit", "vault_private")


class KeyConfigError(RuntimeError):
    """A key is missing, malformed, or present where it must not be; the message says which."""


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str, what: str) -> bytes:
    cleaned = text.strip()
    try:
        raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError) as exc:
        raise KeyConfigError(f"{what} is not valid base64") from exc
    if len(raw) != crypto.KEY_BYTES:
        raise KeyConfigError(f"{what} must be {crypto.KEY_BYTES} bytes, not {len(raw)}")
    return raw


@dataclass
class MasterKeyring:
    """The current master key and, during a rotation, the previous ones (by key id)."""

    keys: dict[str, bytes]
    current_id: str
    path: Path | None  # None when the key came from the environment

    @classmethod
    def parse(cls, text: str, path: Path | None) -> MasterKeyring:
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise KeyConfigError(f"the master key file {path} is empty")
        keys: dict[str, bytes] = {}
        current = ""
        for n, line in enumerate(lines):
            raw = unb64(line, f"master key line {n + 1}")
            kid = crypto.key_id(raw, "master")
            keys[kid] = raw
            current = current or kid
        return cls(keys, current, path)

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]

    def get(self, kid: str) -> bytes:
        """The master key with id `kid`, re-reading the file once (another process rotated)."""
        if kid not in self.keys and self.path is not None and self.path.exists():
            fresh = MasterKeyring.parse(self.path.read_text(), self.path)
            self.keys.update(fresh.keys)
            self.current_id = fresh.current_id
        try:
            return self.keys[kid]
        except KeyError:
            raise KeyConfigError(f"master key {kid} is not available") from None


@dataclass
class PrivacyKeys:
    """The keys this process holds. The public role has only `index` and `vault_public`."""

    role: str
    index: bytes | None = None
    vault_public: X25519PublicKey | None = None
    master: MasterKeyring | None = None
    audit: bytes | None = None
    vault_private: X25519PrivateKey | None = None
    data_key_cache: dict[int, bytes] = field(default_factory=dict)

    @property
    def vault_public_id(self) -> str:
        if self.vault_public is None:
            return ""
        raw = self.vault_public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return crypto.key_id(raw, "vault-public")

    @property
    def has_vault(self) -> bool:
        return self.master is not None and self.vault_private is not None


def keys_dir(config: Any) -> Path:
    return Path(config.get("PRIVACY_KEYS_DIR") or Path(config["INSTANCE_DIR"]) / "keys")


def key_path(config: Any, kind: str) -> Path:
    configured = config.get(f"PRIVACY_{kind.upper()}_KEY_FILE")
    return Path(configured) if configured else keys_dir(config) / FILES[kind]


def _env_value(config: Any, kind: str) -> str | None:
    value = config.get(f"PRIVACY_{kind.upper()}_KEY")
    return str(value) if value else None


def _present(config: Any, kind: str) -> bool:
    return _env_value(config, kind) is not None or key_path(config, kind).exists()


def _read(config: Any, kind: str) -> tuple[str, Path | None]:
    env = _env_value(config, kind)
    if env is not None:
        return env, None
    path = key_path(config, kind)
    return path.read_text(), path


def _write_secret(path: Path, text: str) -> None:
    """Write a key file readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def generate_keys(config: Any) -> list[Path]:
    """Write a full set of fresh keys (for a new instance); refuses to overwrite any key."""
    existing = [kind for kind in FILES if _present(config, kind)]
    if existing:
        raise KeyConfigError(f"keys already exist ({', '.join(existing)}); nothing was written")
    private = X25519PrivateKey.generate()
    values = {
        "master": b64(crypto.new_key()) + "\n",
        "audit": b64(crypto.new_key()) + "\n",
        "index": b64(crypto.new_key()) + "\n",
        "vault_private": b64(private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
        + "\n",
        "vault_public": b64(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        + "\n",
    }
    written = []
    for kind, text in values.items():
        path = key_path(config, kind)
        _write_secret(path, text)
        written.append(path)
    return written


def _may_generate(config: Any) -> bool:
    wanted = config.get("PRIVACY_GENERATE_KEYS")
    if wanted is None:
        wanted = config.get("ENV_NAME") != "production"
    return bool(wanted) and not any(_present(config, kind) for kind in FILES)


def load_keys(config: Any) -> PrivacyKeys:
    """Load the keys for APP_ROLE. Raises KeyConfigError with what to change.

    The public role refuses to start when it can see any vault secret (master, audit or private
    key). The internal and all roles refuse to start without them; on a brand-new instance
    outside production they are generated first (PRIVACY_GENERATE_KEYS).
    """
    role = config["APP_ROLE"]
    keys = PrivacyKeys(role=role)
    if role == "public":
        held = [kind for kind in SECRET_KINDS if _present(config, kind)]
        if held:
            where = ", ".join(
                f"PRIVACY_{k.upper()}_KEY" if _env_value(config, k) else str(key_path(config, k))
                for k in held
            )
            raise KeyConfigError(
                "APP_ROLE=public must not hold vault secrets; remove them from this server: "
                + where
            )
        if _present(config, "index"):
            keys.index = unb64(_read(config, "index")[0], "the blind-index key")
        if _present(config, "vault_public"):
            raw = unb64(_read(config, "vault_public")[0], "the vault public key")
            keys.vault_public = X25519PublicKey.from_public_bytes(raw)
        return keys

    if _may_generate(config):
        generate_keys(config)
    missing = [
        kind for kind in ("master", "audit", "vault_private", "index") if not _present(config, kind)
    ]
    if missing:
        hints = "; ".join(
            f"{kind}: file {key_path(config, kind)} or PRIVACY_{kind.upper()}_KEY"
            for kind in missing
        )
        raise KeyConfigError(
            f"APP_ROLE={role} needs the vault keys, and these are missing: {hints}. "
            "Restore them from the key backup; `flask privacy init-keys` creates keys only for a "
            "new, empty vault."
        )
    text, path = _read(config, "master")
    keys.master = MasterKeyring.parse(text, path)
    keys.audit = unb64(_read(config, "audit")[0], "the audit key")
    keys.index = unb64(_read(config, "index")[0], "the blind-index key")
    private_raw = unb64(_read(config, "vault_private")[0], "the vault private key")
    keys.vault_private = X25519PrivateKey.from_private_bytes(private_raw)
    keys.vault_public = keys.vault_private.public_key()
    if _present(config, "vault_public"):
        given = unb64(_read(config, "vault_public")[0], "the vault public key")
        if given != keys.vault_public.public_bytes(Encoding.Raw, PublicFormat.Raw):
            raise KeyConfigError("the vault public key does not belong to the vault private key")
    return keys


def init_app(app: Flask) -> PrivacyKeys:
    keys = load_keys(app.config)
    app.extensions["privacy_keys"] = keys
    return keys


def current_keys() -> PrivacyKeys:
    keys: PrivacyKeys = current_app.extensions["privacy_keys"]
    return keys


def public_key_text(keys: PrivacyKeys) -> str:
    if keys.vault_public is None:
        raise KeyConfigError("no vault public key")
    return b64(keys.vault_public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def write_master_keyring(ring: MasterKeyring, order: list[str]) -> None:
    """Rewrite the master key file with the keys `order` names, the first being current."""
    if ring.path is None:
        raise KeyConfigError(
            "the master key comes from PRIVACY_MASTER_KEY; rotation needs a key file "
            "(PRIVACY_MASTER_KEY_FILE)"
        )
    _write_secret(ring.path, "".join(b64(ring.keys[kid]) + "\n" for kid in order))


def current_keys_for(app: Flask) -> PrivacyKeys:
    keys: PrivacyKeys = app.extensions["privacy_keys"]
    return keys
