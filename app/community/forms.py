"""Community forms. Text fields have maximum lengths and choices are checked against their
lists, so a forged value is a form error and nothing changes."""

from __future__ import annotations

from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FileField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.community import services
from app.forms import BaseForm, Length, Required
from app.i18n import _l

DT_FORMAT = "%Y-%m-%dT%H:%M"


class CommunityForm(BaseForm):
    name = StringField(_l("Name"), validators=[Required(), Length(max=services.NAME_MAX)])
    description = TextAreaField(
        _l("Description"), validators=[Length(max=services.DESCRIPTION_MAX)]
    )
    category = SelectField(_l("Category"), validators=[Required()])
    kind = SelectField(_l("Kind"), validators=[Required()])
    image = FileField(
        _l("Image (optional)"), description=_l("A JPEG, PNG or WebP photo of up to 5 MB.")
    )
    official = BooleanField(_l("Official community (公認), run by the city or the NPO"))

    def fill(self) -> None:
        self.category.choices = [SelectChoice(c, c) for c in services.categories()]
        self.kind.choices = [SelectChoice(k, str(v)) for k, v in services.KIND_LABELS.items()]


class TopicForm(BaseForm):
    title = StringField(_l("Title"), validators=[Required(), Length(max=services.TITLE_MAX)])
    body = TextAreaField(_l("Text"), validators=[Required(), Length(max=services.TOPIC_BODY_MAX)])
    images = MultipleFileField(
        _l("Photos (optional)"), description=_l("Up to 3 JPEG, PNG or WebP photos of 5 MB each.")
    )


class PostForm(BaseForm):
    body = TextAreaField(_l("Reply"), validators=[Required(), Length(max=services.POST_MAX)])
    quote_id = HiddenField()
    images = MultipleFileField(
        _l("Photos (optional)"), description=_l("Up to 3 JPEG, PNG or WebP photos of 5 MB each.")
    )


class TopicEditForm(TopicForm):
    remove_images = SelectMultipleField(
        _l("Remove these photos"), choices=[], option_widget=CheckboxInput(), widget=ListWidget()
    )


class PostEditForm(BaseForm):
    body = TextAreaField(_l("Reply"), validators=[Required(), Length(max=services.POST_MAX)])
    images = MultipleFileField(
        _l("Photos (optional)"), description=_l("Up to 3 JPEG, PNG or WebP photos of 5 MB each.")
    )
    remove_images = SelectMultipleField(
        _l("Remove these photos"), choices=[], option_widget=CheckboxInput(), widget=ListWidget()
    )


class EventForm(BaseForm):
    title = StringField(_l("Title"), validators=[Required(), Length(max=services.TITLE_MAX)])
    starts_at = DateTimeLocalField(
        _l("Starts at"), format=DT_FORMAT, validators=[Required()], description=_l("Japan time")
    )
    ends_at = DateTimeLocalField(
        _l("Ends at (optional)"), format=DT_FORMAT, validators=[Optional()]
    )
    place = StringField(_l("Place"), validators=[Length(max=services.PLACE_MAX)])
    capacity = IntegerField(
        _l("Capacity (optional)"),
        validators=[Optional(), NumberRange(min=1, max=100_000)],
        description=_l("Leave empty for no limit."),
    )
    deadline_at = DateTimeLocalField(
        _l("Deadline for joining (optional)"), format=DT_FORMAT, validators=[Optional()]
    )
    body = TextAreaField(_l("Details"), validators=[Length(max=services.EVENT_BODY_MAX)])


class HandleForm(BaseForm):
    handle = StringField(_l("Member's handle"), validators=[Required(), Length(max=30)])


class RoleForm(BaseForm):
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice("subadmin", _l("Sub-admin")), SelectChoice("member", _l("Member"))],
        validators=[Required()],
    )


class ModerateCommunityForm(BaseForm):
    kind = SelectField(_l("Kind"), validators=[Required()])
    admin_handle = StringField(_l("Admin's handle"), validators=[Required(), Length(max=30)])
    official = BooleanField(_l("Official community (公認)"))
    reason = StringField(_l("Reason (for the log)"), validators=[Length(max=500)])

    def fill(self) -> None:
        self.kind.choices = [SelectChoice(k, str(v)) for k, v in services.KIND_LABELS.items()]


class RejectForm(BaseForm):
    reason = StringField(
        _l("Reason (shown to the community's admin)"), validators=[Required(), Length(max=500)]
    )


class SettingsForm(BaseForm):
    require_approval = BooleanField(_l("New communities need a moderator's approval"))
