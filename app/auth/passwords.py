"""Password hashing with argon2id (argon2-cffi) at or above ASVS Appendix C minimums."""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from app.i18n import _


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


# --- password lists (A02) --------------------------------------------------------------------

LIST_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"
_DIGITS = "0123456789"


def normalize(text: str) -> str:
    """The form passwords are compared in: NFKC (full-width = half-width), no surrounding
    spaces, case-folded. Only for list look-ups: the hash keeps the password as typed (A01)."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list, read once per process. It serves as both the common and the breached
    list: common-password lists are made from the public breach corpora, and no online breach
    service is asked, so no password (nor a hash prefix of one) leaves the server."""
    lines = LIST_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(normalize(line) for line in lines if line.strip() and line[0] != "#")


def context_words(email: str | None = None, handle: str | None = None) -> set[str]:
    """Names a guesser tries first: the site's, the municipality's and the NPO's (from the
    configuration), and the member's own email local part and user name."""
    cfg = current_app.config
    raw = [
        str(cfg.get(name) or "")
        for name in ("MUNICIPALITY_NAME", "MUNICIPALITY_NAME_EN", "NPO_NAME")
    ]
    raw += [str(word) for word in cfg.get("PASSWORD_CONTEXT_WORDS", ())]
    if email:
        raw.append(email.rsplit("@", 1)[0])
    if handle:
        raw.append(handle)
    words = {normalize(word) for word in raw}
    words |= {"".join(word.split()) for word in words}  # "Midori City" also as "midoricity"
    return {word for word in words if word}


def list_refusal(password: str, email: str | None = None, handle: str | None = None) -> str | None:
    """Why this new password is refused (in the user's language), or None when it may be used."""
    value = normalize(password)
    if value in common_passwords():
        return _(
            "This password appears on lists of common and leaked passwords. "
            "Please choose another one."
        )
    bare = value.rstrip(_DIGITS)
    if any(value == word or bare == word for word in context_words(email, handle)):
        return _(
            "Please do not use the name of this site, the city or the NPO, "
            "or your own email address or user name, as your password."
        )
    return None
