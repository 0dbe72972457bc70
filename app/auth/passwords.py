"""Password hashing with argon2id (argon2-cffi) at or above ASVS Appendix C minimums."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app


def hasher() -> PasswordHasher:
    """The configured argon2id hasher (t, m and p from the config)."""
    cfg = current_app.config
    return PasswordHasher(
        time_cost=int(cfg["ARGON2_TIME_COST"]),
        memory_cost=int(cfg["ARGON2_MEMORY_KIB"]),
        parallelism=int(cfg["ARGON2_PARALLELISM"]),
        type=Type.ID,
    )


def hash_password(password: str) -> str:
    """Hash a password exactly as typed: no trimming, truncation or case folding (A01)."""
    return hasher().hash(password)


def verify_password(stored: str, password: str) -> bool:
    """True when the password matches the stored hash."""
    try:
        return hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """A weaker or older hash is replaced at the next successful login (A37)."""
    try:
        return hasher().check_needs_rehash(stored)
    except InvalidHashError:
        return True


# A dummy hash verified when the account does not exist, so timing does not reveal accounts.
_DUMMY: dict[str, str] = {}


def burn_time(password: str) -> None:
    key = "h"
    if key not in _DUMMY:
        _DUMMY[key] = hash_password("dummy password for timing")
    verify_password(_DUMMY[key], password)
