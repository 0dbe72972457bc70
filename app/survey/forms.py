"""Monitor forms. The checks are those of `app.survey.validation`, so the form, the intake and
the sample loader agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, SelectField, StringField, TextAreaField, ValidationError
from wtforms.fields.choices import SelectChoice

from app.forms import BaseForm, Required
from app.i18n import _l
from app.survey import validation as v


def _check(fn: Callable[[Any], Any], optional: bool = False) -> Callable[[FlaskForm, Field], None]:
    def check(form: FlaskForm, field: Field) -> None:
        if optional and not (field.data or "").strip():
            return
        try:
            fn(field.data)
        except v.FieldInvalid as err:
            raise ValidationError(str(err)) from err

    return check


SEX_CHOICES = [
    SelectChoice("", _l("Please choose")),
    SelectChoice("female", _l("Female")),
    SelectChoice("male", _l("Male")),
    SelectChoice("other", _l("Other")),
    SelectChoice("unstated", _l("Prefer not to say")),
]


class RegistrationForm(BaseForm):
    name = StringField(
        _l("Name"),
        validators=[Required(), _check(lambda x: v.text_value(x, v.LIMITS["name"]))],
        description=_l("As on your My Number Card, for example 長岡 花子."),
    )
    name_kana = StringField(
        _l("Name in katakana"),
        validators=[Required(), _check(v.normalise_kana)],
        description=_l("For example ナガオカ ハナコ. Hiragana is fine too."),
    )
    postal_code = StringField(
        _l("Postal code"),
        validators=[Required(), _check(v.normalise_postal_code)],
        description=_l("Seven digits, for example 940-0062."),
    )
    address = StringField(
        _l("Address"),
        validators=[Required(), _check(lambda x: v.text_value(x, v.LIMITS["address"]))],
    )
    sex = SelectField(_l("Sex"), choices=SEX_CHOICES, validators=[Required(), _check(v.check_sex)])
    birth_date = StringField(
        _l("Date of birth"),
        validators=[Required(), _check(v.parse_birth_date)],
        description=_l("For example 1955-04-01 (year-month-day)."),
    )
    phone = StringField(
        _l("Phone number"),
        validators=[_check(v.normalise_phone, optional=True)],
        description=_l("Optional. Only used if you agree to phone contact below."),
    )
    email = StringField(_l("Email address"), validators=[Required(), _check(v.normalise_email)])
    mobile_email = StringField(
        _l("Mobile email address"),
        validators=[_check(v.normalise_email, optional=True)],
        description=_l("Optional."),
    )
    link_member = BooleanField(_l("Link this registration to my SNS account"))


class CorrectionForm(BaseForm):
    """Only the fields filled in are changed."""

    name = StringField(
        _l("Name"), validators=[_check(lambda x: v.text_value(x, 50), optional=True)]
    )
    name_kana = StringField(
        _l("Name in katakana"), validators=[_check(v.normalise_kana, optional=True)]
    )
    postal_code = StringField(
        _l("Postal code"), validators=[_check(v.normalise_postal_code, optional=True)]
    )
    address = StringField(
        _l("Address"), validators=[_check(lambda x: v.text_value(x, 200), optional=True)]
    )
    phone = StringField(_l("Phone number"), validators=[_check(v.normalise_phone, optional=True)])
    email = StringField(_l("Email address"), validators=[_check(v.normalise_email, optional=True)])
    mobile_email = StringField(
        _l("Mobile email address"), validators=[_check(v.normalise_email, optional=True)]
    )


class LeaveForm(BaseForm):
    confirm = BooleanField(
        _l("I understand that my registration and personal data will be deleted."),
        validators=[Required()],
    )


class RelinkForm(BaseForm):
    reason = TextAreaField(_l("Reason (for the audit log)"), validators=[Required()])
    confirm_identity = BooleanField(
        _l("I checked the resident's My Number Card in person."), validators=[Required()]
    )


class OpenRecordForm(BaseForm):
    purpose = SelectField(_l("Purpose"), choices=[], validators=[Required()])
    reason = StringField(_l("Why do you need it?"), validators=[Required()])


class ExportForm(BaseForm):
    purpose = SelectField(_l("Purpose"), choices=[], validators=[Required()])
    recipient = SelectField(_l("Recipient"), choices=[], validators=[Required()])
    reason = StringField(_l("Why do you need it?"), validators=[Required()])


class SnsSurveysForm(BaseForm):
    """An SNS member's choice to hear about surveys open to SNS members."""

    opt_in = BooleanField(
        _l("Tell me about surveys open to SNS members, and let me answer them as a member"),
        description=_l(
            "You see a banner and get a notification when such a survey opens. Answering "
            "still needs your My Number Card, and your answers stay anonymous."
        ),
    )
