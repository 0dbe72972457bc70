"""Adding purposes from the staff screen and the CLI: checks with messages in the user's
language first, then the vault's own `add_purpose` (which checks again and writes the audit
entry)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.i18n import _
from app.privacy.models import FIELDS, Purpose, Recipient
from app.privacy.services import CODE_RE, add_purpose


@dataclass
class PurposeInvalid(Exception):  # noqa: N818 - reads as a verdict, like the vault's errors
    """Field name → message (in the user's language)."""

    errors: dict[str, str] = field(default_factory=dict)


def all_purposes() -> list[Purpose]:
    stmt = (
        select(Purpose)
        .options(selectinload(Purpose.recipients))
        .order_by(Purpose.position, Purpose.id)
    )
    return list(db.session.execute(stmt).scalars())


def all_recipients() -> list[Recipient]:
    return list(db.session.execute(select(Recipient).order_by(Recipient.id)).scalars())


def create_purpose(
    code: str,
    *,
    name_ja: str,
    name_en: str,
    text_ja: str,
    text_en: str,
    fields: Iterable[str],
    recipients: Iterable[str],
    actor: str,
) -> Purpose:
    """Check the new purpose (code free and well-formed, fields the vault's own, recipients
    known, names and the consent text present) and add it through the vault, audited.

    Raises PurposeInvalid naming each bad field; nothing is written then.
    """
    code = (code or "").strip()
    wanted_fields = [f.strip() for f in fields if f and f.strip()]
    wanted_recipients = [r.strip() for r in recipients if r and r.strip()]
    errors: dict[str, str] = {}
    if not CODE_RE.fullmatch(code):
        errors["code"] = _(
            "A purpose code is 2 to 40 characters: lower-case letters a-z, digits and _, "
            "starting with a letter."
        )
    elif db.session.execute(select(Purpose.id).where(Purpose.code == code)).first():
        errors["code"] = _("A purpose with this code exists already.")
    unknown = [f for f in wanted_fields if f not in FIELDS]
    if unknown:
        errors["fields"] = _(
            "Unknown field(s): %(names)s. The vault's fields are: %(known)s.",
            names=", ".join(unknown),
            known=", ".join(FIELDS),
        )
    elif not wanted_fields:
        errors["fields"] = _("Please choose at least one field the purpose may read.")
    known_recipients = {r.code for r in all_recipients()}
    missing = [r for r in wanted_recipients if r not in known_recipients]
    if missing:
        errors["recipients"] = _("Unknown recipient(s): %(names)s.", names=", ".join(missing))
    elif not wanted_recipients:
        errors["recipients"] = _("Please choose at least one recipient.")
    for name, value in (("name_ja", name_ja), ("name_en", name_en), ("text_ja", text_ja)):
        if not (value or "").strip():
            errors[name] = _("This field is required.")
    if errors:
        raise PurposeInvalid(errors)
    return add_purpose(
        code,
        name_ja=name_ja.strip(),
        name_en=name_en.strip(),
        text_ja=text_ja.strip(),
        text_en=(text_en or "").strip(),
        fields=wanted_fields,
        recipients=wanted_recipients,
        actor=actor,
    )
