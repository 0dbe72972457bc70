"""Checks and normal forms of a monitor's registration data, shared by the web form, the
intake on the internal server (which never trusts the public one) and `flask sample load`."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app

from app.i18n import _
from app.survey.models import SEXES

POSTAL_RE = re.compile(r"(\d{3})-?(\d{4})")
PHONE_RE = re.compile(r"0\d{1,4}-?\d{1,4}-?\d{3,4}")
_KANA_OK = re.compile(r"[\u30a1-\u30fa\u30fc\u30fb\u30fd\u30fe ]+")
LIMITS = {"name": 50, "name_kana": 80, "address": 200, "email": 254, "mobile_email": 254}
TEXT_FIELDS = (
    "name",
    "name_kana",
    "postal_code",
    "address",
    "sex",
    "birth_date",
    "phone",
    "email",
    "mobile_email",
)


class FieldInvalid(ValueError):  # noqa: N818 - reads as a verdict
    """One value is not acceptable; the message is for the resident."""


class RegistrationInvalid(Exception):  # noqa: N818 - reads as a verdict
    """Some values are not acceptable: field name → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(errors)))
        self.errors = errors


def _clean(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldInvalid(_("Please enter text."))
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise FieldInvalid(_("Please remove control characters."))
    return " ".join(unicodedata.normalize("NFKC", value).split())


def text_value(value: Any, limit: int, required: bool = True) -> str:
    text = _clean(value)
    if required and not text:
        raise FieldInvalid(_("This field is required."))
    if len(text) > limit:
        raise FieldInvalid(_("Please use at most %(n)d characters.", n=limit))
    return text


def normalise_postal_code(value: Any) -> str:
    """〒123-4567, 1234567 or full-width digits → "123-4567"."""
    text = _clean(value).replace("〒", "").replace("ー", "-").replace("−", "-").replace(" ", "")
    match = POSTAL_RE.fullmatch(text)
    if not match:
        raise FieldInvalid(_("Please write the postal code as 123-4567."))
    return f"{match.group(1)}-{match.group(2)}"


def normalise_kana(value: Any) -> str:
    """Katakana (hiragana and half-width katakana are converted); anything else is refused."""
    text = text_value(value, LIMITS["name_kana"])
    text = text.replace("\u3000", " ")
    converted = "".join(chr(ord(ch) + 0x60) if "\u3041" <= ch <= "\u3096" else ch for ch in text)
    if not _KANA_OK.fullmatch(converted):
        raise FieldInvalid(_("Please write your name in katakana, for example ナガオカ ハナコ."))
    return converted


def normalise_phone(value: Any, required: bool = True) -> str:
    text = _clean(value).replace("ー", "-").replace("−", "-").replace(" ", "")
    if not text and not required:
        return ""
    digits = text.replace("-", "")
    if not PHONE_RE.fullmatch(text) or not 10 <= len(digits) <= 11:
        raise FieldInvalid(_("Please write a Japanese phone number, for example 0258-12-3456."))
    return text


def normalise_email(value: Any, required: bool = True) -> str:
    text = _clean(value)
    if not text and not required:
        return ""
    if not text:
        raise FieldInvalid(_("This field is required."))
    if len(text) > LIMITS["email"]:
        raise FieldInvalid(_("Please use at most %(n)d characters.", n=LIMITS["email"]))
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise FieldInvalid(_("Please enter a valid email address.")) from exc
    return text


def parse_birth_date(value: Any, today: dt.date | None = None) -> dt.date:
    """YYYY-MM-DD or YYYY/M/D; not in the future, not before 1900, at least SURVEY_MIN_AGE."""
    if isinstance(value, dt.date):
        day = value
    else:
        text = _clean(value).replace("/", "-").replace(".", "-")
        parts = text.split("-")
        try:
            if len(parts) != 3:
                raise ValueError(text)
            day = dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError as exc:
            raise FieldInvalid(_("Please enter the date of birth as 1960-04-01.")) from exc
    today = today or dt.date.today()
    if day > today:
        raise FieldInvalid(_("The date of birth cannot be in the future."))
    if day.year < 1900:
        raise FieldInvalid(_("Please check the year of birth."))
    if age_on(day, today) < int(current_app.config["SURVEY_MIN_AGE"]):
        raise FieldInvalid(
            _(
                "Monitors must be at least %(n)d years old.",
                n=int(current_app.config["SURVEY_MIN_AGE"]),
            )
        )
    return day


def age_on(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def check_sex(value: Any) -> str:
    if value not in SEXES:
        raise FieldInvalid(_("Please choose one of the options."))
    return str(value)


@dataclass
class RegistrationData:
    """Checked registration values in their normal forms (birth date as YYYY-MM-DD)."""

    name: str
    name_kana: str
    postal_code: str
    address: str
    sex: str
    birth_date: str
    phone: str
    email: str
    mobile_email: str
    extra: dict[str, Any] = field(default_factory=dict)

    def values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in TEXT_FIELDS}


def validate_fields(raw: dict[str, Any], today: dt.date | None = None) -> RegistrationData:
    """Check every personal field; raise RegistrationInvalid with a message per bad field."""
    checks = {
        "name": lambda v: text_value(v, LIMITS["name"]),
        "name_kana": normalise_kana,
        "postal_code": normalise_postal_code,
        "address": lambda v: text_value(v, LIMITS["address"]),
        "sex": check_sex,
        "birth_date": lambda v: parse_birth_date(v, today).isoformat(),
        "phone": lambda v: normalise_phone(v, required=False),
        "email": normalise_email,
        "mobile_email": lambda v: normalise_email(v, required=False),
    }
    out: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, check in checks.items():
        try:
            out[name] = check(raw.get(name))
        except FieldInvalid as err:
            errors[name] = str(err)
    if errors:
        raise RegistrationInvalid(errors)
    return RegistrationData(
        name=out["name"],
        name_kana=out["name_kana"],
        postal_code=out["postal_code"],
        address=out["address"],
        sex=out["sex"],
        birth_date=out["birth_date"],
        phone=out["phone"],
        email=out["email"],
        mobile_email=out["mobile_email"],
    )
