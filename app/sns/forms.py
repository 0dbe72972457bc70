"""SNS forms. Every text field has a maximum length; every choice is checked against its list,
so a forged value is a form error and nothing changes (A26, A34)."""

from __future__ import annotations

from typing import Any

from flask_wtf.file import FileField, MultipleFileField
from wtforms import (
    BooleanField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.forms import BaseForm, Length, Required
from app.i18n import _l
from app.permissions import level_choices
from app.sns import services
from app.sns.models import FieldKind


def options(pairs: Any) -> list[SelectChoice]:
    """WTForms choices from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


class VisibilityField(SelectField):
    """A visibility select whose choices are the five levels, widest first."""

    def __init__(self, label: Any = None, **kw: Any) -> None:
        super().__init__(label or _l("Who can see this"), **kw)

    def pre_validate(self, form: Any) -> None:
        self.choices = options(level_choices())
        super().pre_validate(form)


def _fill_levels(form: Any) -> None:
    for fld in form:
        if isinstance(fld, VisibilityField):
            fld.choices = options(level_choices())


class FriendRequestForm(BaseForm):
    message = TextAreaField(
        _l("Message (optional)"),
        validators=[Length(max=services.REQUEST_MESSAGE_MAX)],
        description=_l("A few words so they know who you are."),
    )


class DiaryForm(BaseForm):
    title = StringField(_l("Title"), validators=[Required(), Length(max=services.TITLE_MAX)])
    body = TextAreaField(_l("Text"), validators=[Required(), Length(max=services.BODY_MAX)])
    body_format = RadioField(
        _l("Text format"),
        choices=options(
            [
                ("plain", _l("Plain text (web addresses become links)")),
                ("markdown", _l("Simple formatting (**bold**, lists, [links](https://…))")),
            ]
        ),
        default="plain",
    )
    visibility = VisibilityField(default="friends")
    allow_comments = BooleanField(_l("Allow comments"), default=True)
    images = MultipleFileField(
        _l("Photos (up to 3)"),
        description=_l("JPEG, PNG or WebP, up to 5 MB each. Location data is removed."),
    )
    remove_images = SelectMultipleField(
        _l("Remove these photos"), choices=[], option_widget=CheckboxInput(), widget=ListWidget()
    )

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        _fill_levels(self)


class CommentForm(BaseForm):
    body = TextAreaField(_l("Comment"), validators=[Required(), Length(max=services.COMMENT_MAX)])


class MessageForm(BaseForm):
    subject = StringField(_l("Subject"), validators=[Length(max=services.SUBJECT_MAX)])
    body = TextAreaField(_l("Message"), validators=[Required(), Length(max=services.MESSAGE_MAX)])


class IntroductionForm(BaseForm):
    body = TextAreaField(
        _l("Introduction"),
        validators=[Required(), Length(max=services.INTRO_MAX)],
        description=_l("A few friendly words about your friend, shown on their page."),
    )


class AvatarForm(BaseForm):
    photo = FileField(
        _l("Photo"), description=_l("JPEG, PNG or WebP, up to 5 MB. Location data is removed.")
    )


class ReportForm(BaseForm):
    reason = RadioField(_l("Reason"), choices=[], validators=[Required()])
    details = TextAreaField(
        _l("Details (optional)"), validators=[Length(max=services.REPORT_DETAILS_MAX)]
    )

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.reason.choices = options((k, str(v)) for k, v in services.REPORT_REASONS)


class SnsSettingsForm(BaseForm):
    friends_visibility = VisibilityField(_l("Who can see my friend list"))
    footprints_enabled = BooleanField(
        _l("Leave footprints and see who visited me"),
        description=_l("If you turn this off, others do not see your visits and you see none."),
    )
    email_kinds = SelectMultipleField(
        _l("Send me an email for"), choices=[], option_widget=CheckboxInput(), widget=ListWidget()
    )
    email_digest = BooleanField(
        _l("Send these emails once a day as a summary instead of one by one")
    )

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        _fill_levels(self)
        self.email_kinds.choices = options(
            (k, str(v)) for k, v in services.NOTIFICATION_LABELS.items()
        )


class FieldSettingsForm(BaseForm):
    key = StringField(validators=[Required(), Length(max=40)])
    default_visibility = VisibilityField(_l("Default"))
    fixed_visibility = SelectField(_l("Fixed level"), choices=[])

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        _fill_levels(self)
        self.fixed_visibility.choices = options([("", str(_l("Members choose"))), *level_choices()])


class ExtraFieldForm(BaseForm):
    label_ja = StringField(_l("Label (Japanese)"), validators=[Length(max=60)])
    label_en = StringField(_l("Label (English)"), validators=[Length(max=60)])
    kind = SelectField(
        _l("Kind"),
        choices=options(
            [
                (FieldKind.TEXT.value, _l("Text")),
                (FieldKind.CHOICE.value, _l("Choice")),
                (FieldKind.DATE.value, _l("Date")),
            ]
        ),
    )
    choices = TextAreaField(
        _l("Choices (one per line)"), validators=[Length(max=5000)], description=_l("For a choice.")
    )
    default_visibility = VisibilityField(_l("Default"))

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        _fill_levels(self)


def profile_form(fields: list[services.FieldDef], values: dict[str, Any], data: Any = None) -> Any:
    """A profile form built from the field list: one input and one visibility per field.

    Fixed fields get no visibility select (the admin chose their level).
    """

    class ProfileForm(BaseForm):
        display_name = StringField(
            _l("Display name"),
            validators=[Required(), Length(max=50)],
            description=_l("Always shown to everyone."),
        )

    for fd in fields:
        if fd.kind is FieldKind.IMAGE:
            continue
        if fd.kind is FieldKind.TEXTAREA:
            input_field: Any = TextAreaField(fd.label, validators=[Length(max=fd.max_length)])
        elif fd.kind is FieldKind.CHOICE:
            input_field = SelectField(
                fd.label,
                choices=options([("", str(_l("(not set)"))), *fd.choices]),
                validate_choice=True,
            )
        elif fd.kind is FieldKind.YEAR:
            input_field = StringField(
                fd.label, validators=[Optional(), Length(max=4)], description=_l("For example 1955")
            )
        elif fd.kind is FieldKind.MONTHDAY:
            input_field = StringField(
                fd.label,
                validators=[Optional(), Length(max=5)],
                description=_l("For example 04-29"),
            )
        elif fd.kind is FieldKind.DATE:
            input_field = StringField(
                fd.label,
                validators=[Optional(), Length(max=10)],
                description=_l("For example 2026-04-01"),
            )
        else:
            input_field = StringField(fd.label, validators=[Length(max=fd.max_length)])
        setattr(ProfileForm, f"f_{fd.key}", input_field)
        if fd.fixed is None:
            setattr(ProfileForm, f"v_{fd.key}", VisibilityField(default=fd.default.value))
    form = ProfileForm(formdata=data) if data is not None else ProfileForm(data=values)
    _fill_levels(form)
    return form
