"""Forms for announcements and site pages. Labels in English, translated through `_l`."""

from __future__ import annotations

import datetime as dt

from wtforms import Field, RadioField, StringField, TextAreaField, ValidationError
from wtforms.fields.choices import SelectChoice

from app.forms import BaseForm, Length, Required
from app.i18n import _, _l
from app.notices import services


class AnnouncementForm(BaseForm):
    title = StringField(_l("Title"), validators=[Required(), Length(max=services.TITLE_MAX)])
    body = TextAreaField(
        _l("Text"),
        validators=[Required(), Length(max=services.BODY_MAX)],
        description=_l("Simple formatting: **bold**, lists with -, [links](https://…)."),
    )
    audience = RadioField(
        _l("Who may read it"),
        choices=[
            SelectChoice("public", _l("Everyone (also people who are not logged in)")),
            SelectChoice("members", _l("Members only")),
        ],
        default="public",
        validate_choice=False,  # the service refuses forged values with a clear message
    )
    pinned_until = StringField(
        _l("Pin at the top until (optional)"),
        description=_l("The announcement stays first in the list until the end of this day."),
        render_kw={"type": "date"},
    )

    def validate_pinned_until(self, field: Field) -> None:
        self.pinned_date = parse_date(field.data)

    pinned_date: dt.date | None = None


def parse_date(value: str | None) -> dt.date | None:
    """A YYYY-MM-DD date, None for an empty field; ValidationError with a clear message."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text.replace("/", "-"))
    except ValueError as exc:
        raise ValidationError(_("Please enter a date such as 2026-12-31.")) from exc


class SitePageForm(BaseForm):
    title = StringField(_l("Title"), validators=[Required(), Length(max=services.TITLE_MAX)])
    body = TextAreaField(
        _l("Text"),
        validators=[Required(), Length(max=services.BODY_MAX * 5)],
        description=_l("Simple formatting: ### headings, lists with -, **bold**."),
        render_kw={"rows": 20},
    )
    note = StringField(
        _l("What changed (shown in the history)"),
        validators=[Length(max=services.NOTE_MAX)],
    )
