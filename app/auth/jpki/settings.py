"""JPKI verifier configuration, read from a Flask-config-like mapping."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["JpkiSettings", "RevocationMode", "normalize_fingerprint"]

RevocationMode = Literal["fail-closed", "accept-unknown"]
_REVOCATION_MODES: tuple[RevocationMode, ...] = ("fail-closed", "accept-unknown")
_HEX64 = re.compile(r"[0-9A-F]{64}")


def normalize_fingerprint(value: str) -> str:
    """Normalise a SHA-256 fingerprint to 64 upper-case hex digits (colons, spaces, case ok).

    Raises ValueError for anything that is not a SHA-256 fingerprint, so a typo in a pin is a
    configuration error instead of a silently ignored pin.
    """
    compact = re.sub(r"[\s:]", "", value).upper()
    if not _HEX64.fullmatch(compact):
        raise ValueError(f"not a SHA-256 fingerprint: {value!r}")
    return compact


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"", "0", "false", "no", "off"}:
        return False
    raise ValueError(f"JPKI_TEST_MODE: not a boolean: {value!r}")


def _pins(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    pins = [normalize_fingerprint(str(item)) for item in items if str(item).strip()]
    return tuple(sorted(set(pins)))


@dataclass(frozen=True, slots=True)
class JpkiSettings:
    """What the verifier trusts and how it treats revocation.

    Frozen and hashable, so loaded trust and CRL stores can be cached per settings value.
    """

    trust_dir: str | None
    trust_pins: tuple[str, ...] = ()
    crl_dir: str | None = None
    revocation: RevocationMode = "fail-closed"
    test_mode: bool = False

    def __post_init__(self) -> None:
        if self.revocation not in _REVOCATION_MODES:
            raise ValueError(
                f"JPKI_REVOCATION must be one of {', '.join(_REVOCATION_MODES)}, "
                f"not {self.revocation!r}"
            )
        object.__setattr__(self, "trust_pins", _pins(self.trust_pins))

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> JpkiSettings:
        """Build settings from ``JPKI_TRUST_DIR``, ``JPKI_TRUST_PINS``, ``JPKI_CRL_DIR``,
        ``JPKI_REVOCATION`` and ``JPKI_TEST_MODE`` (e.g. ``current_app.config``).

        Raises ValueError for an invalid revocation mode, pin or boolean.
        """
        revocation = str(config.get("JPKI_REVOCATION") or "fail-closed").strip().lower()
        if revocation not in _REVOCATION_MODES:
            raise ValueError(
                f"JPKI_REVOCATION must be one of {', '.join(_REVOCATION_MODES)}, not {revocation!r}"
            )
        trust_dir = config.get("JPKI_TRUST_DIR") or None
        crl_dir = config.get("JPKI_CRL_DIR") or None
        return cls(
            trust_dir=str(trust_dir) if trust_dir is not None else None,
            trust_pins=_pins(config.get("JPKI_TRUST_PINS")),
            crl_dir=str(crl_dir) if crl_dir is not None else None,
            revocation=revocation,
            test_mode=_as_bool(config.get("JPKI_TEST_MODE")),
        )
