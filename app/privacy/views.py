"""Staff screens of the vault (internal role): the audit log with filters, projects with their
end dates, and the purge with a typed confirmation (admins)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms import StringField

from app.auth.decorators import role_required
from app.auth.models import RoleCode
from app.extensions import db
from app.forms import BaseForm, Required
from app.i18n import _, _l
from app.privacy import bp
from app.privacy.audit import verify_chain
from app.privacy.models import AuditEntry, Project
from app.privacy.retention import days_left, purge_project

FILTERS = ("action", "purpose", "actor", "subject", "project")


class PurgeForm(BaseForm):
    confirm = StringField(_l("Type the project code to confirm"), validators=[Required()])


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
