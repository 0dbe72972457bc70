"""Moderation forms. Labels through `_l`; the services check everything again."""

from __future__ import annotations

from typing import Any

from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional

from app.forms import BaseForm, Length, Required
from app.i18n import _l
from app.moderation import services


class ReasonForm(BaseForm):
    """Hide, restore, dismiss, answer an appeal: one reason (required where the rule says)."""

    reason = TextAreaField(_l("Reason"), validators=[Length(max=services.REASON_MAX)])


class WarnForm(BaseForm):
    message = TextAreaField(
        _l("Message to the member"),
        description=_l("They must read and acknowledge it before they can go on."),
        validators=[Required(), Length(max=services.REASON_MAX)],
    )


class SuspendForm(BaseForm):
    days = IntegerField(
        _l("Days"),
        validators=[Required(), NumberRange(min=1, max=services.SUSPEND_DAYS_MAX)],
    )
    reason = TextAreaField(_l("Reason"), validators=[Required(), Length(max=services.REASON_MAX)])


class QuotaForm(BaseForm):
    handle = StringField(_l("User name"), validators=[Required(), Length(max=30)])
    quota = IntegerField(
        _l("Invitations allowed"), validators=[Required(), NumberRange(min=0, max=1000)]
    )


class FilterForm(BaseForm):
    kind = SelectField(_l("Kind"), choices=[], validators=[Required()])
    value = StringField(
        _l("Word or pattern"),
        description=_l(
            "Words match anywhere, ignoring case and full-width/half-width. Patterns are "
            "Python regular expressions, e.g. \\d{3}-\\d{4}."
        ),
        validators=[Required(), Length(max=200)],
    )

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.kind.choices = [
            SelectChoice("word", str(_l("Word"))),
            SelectChoice("pattern", str(_l("Pattern (regular expression)"))),
        ]


class AppealForm(BaseForm):
    body = TextAreaField(
        _l("Your reply"),
        description=_l("You can reply once. The moderators will read it."),
        validators=[Required(), Length(max=services.APPEAL_MAX)],
    )


class AcknowledgeForm(BaseForm):
    warning_id = HiddenField(validators=[Optional()])
