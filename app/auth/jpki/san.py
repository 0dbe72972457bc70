"""The four basic facts (基本4情報) in a JPKI signing certificate's subjectAltName.

Six otherName entries (jpki.md §3.4), each ``[0] { type-id OID, [0] EXPLICIT UTF8String }``.
`cryptography` hands over the content of the explicit [0] (the UTF8String TLV) as
``OtherName.value``; it is parsed here strictly.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date

from cryptography import x509

from .der import DerError, parse_utf8string

__all__ = [
    "ERA_NAMES",
    "OID_ADDRESS",
    "OID_ADDRESS_SUBSTITUTE",
    "OID_BIRTH_DATE",
    "OID_NAME",
    "OID_NAME_SUBSTITUTE",
    "OID_SEX",
    "BasicFacts",
    "SanError",
    "parse_basic_facts",
]

OID_NAME = "1.2.392.200149.8.5.5.1"
OID_NAME_SUBSTITUTE = "1.2.392.200149.8.5.5.2"
OID_SEX = "1.2.392.200149.8.5.5.3"
OID_BIRTH_DATE = "1.2.392.200149.8.5.5.4"
OID_ADDRESS = "1.2.392.200149.8.5.5.5"
OID_ADDRESS_SUBSTITUTE = "1.2.392.200149.8.5.5.6"
_ALL = (OID_NAME, OID_NAME_SUBSTITUTE, OID_SEX, OID_BIRTH_DATE, OID_ADDRESS, OID_ADDRESS_SUBSTITUTE)

# Era digit of the birth-date field. The digits are inferred (jpki.md marks them unconfirmed);
# only the Gregorian part is used for computation, the era is informative.
ERA_NAMES: dict[int, str] = {1: "明治", 2: "大正", 3: "昭和", 4: "平成", 5: "令和"}
_BIRTH_RE = re.compile(r"([0-9])([0-9]{4})([0-9]{2})([0-9]{2})")
MAX_FIELD_CHARS = 1024


class SanError(ValueError):
    """The certificate's basic-facts entries are missing, duplicated or malformed."""


@dataclass(frozen=True, slots=True)
class BasicFacts:
    """氏名・性別・生年月日・住所 as the signing certificate states them (stored form)."""

    name: str
    name_substitute: str
    sex: str  # "1" male, "2" female; other codes are kept as given
    birth_date: date | None  # None when the record's date is partly unknown (zeros)
    birth_era: int
    address: str
    address_substitute: str
    birth_date_text: str = ""  # the 8 Gregorian digits as given

    @property
    def birth_era_name(self) -> str | None:
        """明治/大正/昭和/平成/令和 for the era digit, None for an unknown digit."""
        return ERA_NAMES.get(self.birth_era)

    @property
    def has_substitutes(self) -> bool:
        """True when the name or address had characters replaced (外字 → 代替文字)."""
        return any(ch != "0" for ch in self.name_substitute + self.address_substitute)

    def normalized(self) -> BasicFacts:
        """NFKC-normalised copy for comparison only (never store it): full-width letters,
        digits and spaces folded, runs of spaces collapsed."""

        def norm(text: str) -> str:
            return " ".join(unicodedata.normalize("NFKC", text).split())

        return replace(self, name=norm(self.name), address=norm(self.address))


def _value(other: x509.OtherName) -> str:
    try:
        text = parse_utf8string(other.value)
    except DerError as exc:
        raise SanError(f"{other.type_id.dotted_string}: {exc}") from exc
    if len(text) > MAX_FIELD_CHARS or any(unicodedata.category(ch) == "Cc" for ch in text):
        raise SanError(f"{other.type_id.dotted_string}: implausible value")
    return text


def parse_basic_facts(certificate: x509.Certificate) -> BasicFacts | None:
    """The basic facts of a signing certificate, or None when it has none of the six entries
    (an authentication certificate). Raises SanError when some but not all are present, when
    one is repeated, or when a value is malformed.
    """
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as exc:
        raise SanError(f"unparsable subjectAltName: {exc}") from exc
    values: dict[str, str] = {}
    for other in san.get_values_for_type(x509.OtherName):
        oid = other.type_id.dotted_string
        if oid not in _ALL:
            continue
        if oid in values:
            raise SanError(f"{oid} appears twice")
        values[oid] = _value(other)
    if not values:
        return None
    missing = [oid for oid in _ALL if oid not in values]
    if missing:
        raise SanError(f"missing entries: {', '.join(missing)}")
    match = _BIRTH_RE.fullmatch(values[OID_BIRTH_DATE])
    if not match:
        raise SanError("birth date must be an era digit followed by YYYYMMDD")
    era, year, month, day = (int(g) for g in match.groups())
    birth: date | None
    if month == 0 or day == 0:
        birth = None
    else:
        try:
            birth = date(year, month, day)
        except ValueError as exc:
            raise SanError(f"impossible birth date: {exc}") from exc
    return BasicFacts(
        name=values[OID_NAME],
        name_substitute=values[OID_NAME_SUBSTITUTE],
        sex=values[OID_SEX],
        birth_date=birth,
        birth_era=era,
        address=values[OID_ADDRESS],
        address_substitute=values[OID_ADDRESS_SUBSTITUTE],
        birth_date_text=values[OID_BIRTH_DATE][1:],
    )
