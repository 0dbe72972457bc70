"""Staff screens of the vault (internal role): the audit log with filters, projects with their
end dates, and the purge with a typed confirmation (admins)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from app.auth.decorators import role_required
from app.auth.models import RoleCode
from app.extensions import db
from app.forms import BaseForm, Length, Required
from app.i18n import _, _l
from app.privacy import bp
from app.privacy.audit import verify_chain
from app.privacy.models import FIELDS, AuditEntry, Project
from app.privacy.purposes import PurposeInvalid, all_purposes, all_recipients, create_purpose
from app.privacy.retention import days_left, purge_project

FILTERS = ("action", "purpose", "actor", "subject", "project")


class PurgeForm(BaseForm):
    confirm = StringField(_l("Type the project code to confirm"), validators=[Required()])


class PurposeForm(BaseForm):
    code = StringField(
        _l("Code"),
        validators=[Required(), Length(max=40)],
        description=_l("Lower-case letters, digits and _, e.g. event_invitation."),
    )
    name_ja = StringField(_l("Name (Japanese)"), validators=[Required(), Length(max=200)])
    name_en = StringField(_l("Name (English)"), validators=[Required(), Length(max=200)])
    text_ja = TextAreaField(
        _l("Consent text shown to monitors (Japanese)"),
        validators=[Required(), Length(max=5000)],
    )
    text_en = TextAreaField(_l("Consent text (English)"), validators=[Length(max=5000)])
    fields = SelectMultipleField(
        _l("Fields the purpose may read"),
        choices=[],
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validate_choice=False,  # the service names forged field names in a clear message
    )
    recipients = SelectMultipleField(
        _l("Who may receive the data"),
        choices=[],
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validate_choice=False,
    )


@bp.route("/purposes", methods=["GET"])
@role_required(RoleCode.STAFF)
def purposes() -> str:
    return render_template("privacy/purposes.html", purposes=all_purposes())


@bp.route("/purposes/new", methods=["GET", "POST"])
@role_required(RoleCode.STAFF)
def purpose_new() -> Any:
    form = PurposeForm()
    form.fields.choices = [SelectChoice(name, name) for name in FIELDS]
    japanese = str(get_locale() or "ja") == "ja"
    form.recipients.choices = [
        SelectChoice(r.code, r.name_ja if japanese else r.name_en) for r in all_recipients()
    ]
    if form.validate_on_submit():
        try:
            purpose = create_purpose(
                form.code.data or "",
                name_ja=form.name_ja.data or "",
                name_en=form.name_en.data or "",
                text_ja=form.text_ja.data or "",
                text_en=form.text_en.data or "",
                fields=form.fields.data or [],
                recipients=form.recipients.data or [],
                actor=f"user:{current_user.id}",
            )
        except PurposeInvalid as err:
            for name, message in err.errors.items():
                form[name].errors = [*form[name].errors, message]
        else:
            db.session.commit()
            flash(_("Purpose %(code)s was added.", code=purpose.code), "success")
            return redirect(url_for("privacy.purposes"))
    status = 422 if request.method == "POST" else 200
    return render_template("privacy/purpose_new.html", form=form), status


@bp.route("/audit", methods=["GET"])
@role_required(RoleCode.STAFF)
def audit_log() -> str:
    stmt = select(AuditEntry)
    chosen: dict[str, str] = {}
    for name in FILTERS:
        value = request.args.get(name, "").strip()[:80]
        if not value:
            continue
        chosen[name] = value
        if name == "subject":
            stmt = stmt.where(AuditEntry.subjects_json.like(f'%"{value}"%'))
        else:
            stmt = stmt.where(getattr(AuditEntry, name) == value)
    since = request.args.get("since", "")
    try:
        if since:
            day = dt.date.fromisoformat(since)
            stmt = stmt.where(AuditEntry.at >= dt.datetime.combine(day, dt.time(), dt.UTC))
            chosen["since"] = since
    except ValueError:
        flash(_("Please write the date as 2026-04-01."), "error")
    entries = list(db.session.execute(stmt.order_by(AuditEntry.seq.desc()).limit(200)).scalars())
    return render_template(
        "privacy/audit.html", entries=entries, chosen=chosen, chain=verify_chain(), filters=FILTERS
    )


@bp.route("/projects", methods=["GET"])
@role_required(RoleCode.STAFF)
def projects() -> str:
    rows = list(db.session.execute(select(Project).order_by(Project.ends_on)).scalars())
    return render_template("privacy/projects.html", projects=rows, days_left=days_left)


@bp.route("/projects/<code>/purge", methods=["GET", "POST"])
@role_required(RoleCode.ADMIN)
def purge(code: str) -> Any:
    project = db.session.execute(select(Project).where(Project.code == code)).scalar_one_or_none()
    if project is None:
        return render_template("errors/404.html"), 404
    form = PurgeForm()
    if form.validate_on_submit():
        if form.confirm.data != project.code:
            form.confirm.errors.append(_("This is not the project code. Nothing was deleted."))
        else:
            report = purge_project(project.code, actor=f"user:{current_user.id}")
            flash(
                _(
                    "Project %(code)s was purged: %(n)d records destroyed.",
                    code=code,
                    n=report.records,
                ),
                "success",
            )
            return redirect(url_for("privacy.projects"))
    return render_template("privacy/purge.html", form=form, project=project), (
        422 if request.method == "POST" else 200
    )
