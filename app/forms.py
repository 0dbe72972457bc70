"""Shared form pieces: validators with messages in the user's language."""

from __future__ import annotations

import unicodedata
from typing import Any, ClassVar

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_wtf import FlaskForm
from wtforms import Field, ValidationError

from app.i18n import _


class BaseForm(FlaskForm):
    """A form that refuses control characters in every text field it holds."""

    def validate(self, extra_validators: Any = None) -> bool:
        ok = bool(super().validate(extra_validators))
        for field in self:
            data = field.data
            if isinstance(data, str) and any(
                unicodedata.category(ch) == "Cc" and ch not in "\r\n\t" for ch in data
            ):
                field.errors = [*field.errors, _("Please remove control characters.")]
                ok = False
        return ok


class Length:
    """Length check whose message names the limit in the user's language."""

    def __init__(self, min: int = 0, max: int | None = None) -> None:
        self.min = min
        self.max = max

    def __call__(self, form: FlaskForm, field: Field) -> None:
        value = field.data or ""
        if self.max is not None and len(value) > self.max:
            raise ValidationError(_("Please use at most %(n)d characters.", n=self.max))
        if len(value) < self.min:
            raise ValidationError(_("Please use at least %(n)d characters.", n=self.min))


class Required:
    """A value is required (whitespace alone does not count)."""

    field_flags: ClassVar[dict[str, bool]] = {"required": True}

    def __call__(self, form: FlaskForm, field: Field) -> None:
        data = field.data
        if data is None or data is False or (isinstance(data, str) and not data.strip()):
            field.errors[:] = []
            raise ValidationError(_("This field is required."))


class EmailAddress:
    """A syntactically valid address (no DNS look-up: the machine may be offline)."""

    def __call__(self, form: FlaskForm, field: Field) -> None:
        value = (field.data or "").strip()
        if len(value) > 254:
            raise ValidationError(_("Please use at most %(n)d characters.", n=254))
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValidationError(_("Please enter a valid email address.")) from exc


class PasswordPolicy:
    """ASVS A01: length, any Unicode; no composition rules, no truncation. A02: not on the
    shipped common/breached list, nor a context word (with digits after it). The member's
    email and user name come from the form's own fields, else from `form.password_owner`
    (set by the reset page), else from the logged-in member."""

    def __call__(self, form: FlaskForm, field: Field) -> None:
        value = field.data or ""
        low = int(current_app.config["PASSWORD_MIN_LENGTH"])
        high = int(current_app.config["PASSWORD_MAX_LENGTH"])
        if len(value) < low:
            raise ValidationError(_("Please use at least %(n)d characters.", n=low))
        if len(value) > high:
            raise ValidationError(_("Please use at most %(n)d characters.", n=high))
        from flask_login import current_user

        from app.auth.passwords import list_refusal

        owner = getattr(form, "password_owner", None)
        if owner is None and current_user.is_authenticated:
            owner = current_user
        email = form["email"].data if "email" in form else getattr(owner, "email", None)
        handle = form["handle"].data if "handle" in form else getattr(owner, "handle", None)
        refusal = list_refusal(value, email=email, handle=handle)
        if refusal:
            raise ValidationError(refusal)


class SameAs:
    def __init__(self, other: str) -> None:
        self.other = other

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if field.data != form[self.other].data:
            raise ValidationError(_("The two passwords do not match."))


class EmptyForm(BaseForm):
    """A one-button action: carries only the CSRF token."""
