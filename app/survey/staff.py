"""Staff screens for the monitor panel (internal role): the list by pseudonym and segment,
opening a record for a chosen purpose, CSV export per purpose and recipient, and the
staff-assisted certificate re-link. Every read goes through `vault.access`."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from app.auth.decorators import role_required
from app.auth.models import RoleCode
from app.extensions import db
from app.i18n import _
from app.privacy.models import Purpose
from app.privacy.retention import projects_near_end
from app.privacy.vault import PrivacyError, access, active_purposes, consenting_subjects
from app.survey import services
from app.survey.forms import ExportForm, OpenRecordForm, RelinkForm
from app.survey.models import Monitor
from app.survey.views import field_labels

bp = Blueprint("survey_staff", __name__, template_folder="templates", url_prefix="/staff/monitors")
PAGE_SIZE = 100


def _actor() -> str:
    return f"user:{current_user.id}"


def _staff_purposes() -> list[Purpose]:
    """Purposes staff may open a record for: the consent purposes naming the staff's party."""
    party = current_app.config["PRIVACY_STAFF_RECIPIENT"]
    return [p for p in active_purposes("consent") if party in {r.code for r in p.recipients}]


def _label(purpose: Purpose) -> str:
    return purpose.name_for(str(get_locale() or "ja"))


@bp.route("/", methods=["GET"])
@role_required(RoleCode.STAFF)
def monitor_list() -> str:
    stmt = select(Monitor).where(Monitor.status == "active")
    filters = {}
    for name in ("district", "sex"):
        value = request.args.get(name, "")
        if value:
            stmt = stmt.where(getattr(Monitor, name) == value)
            filters[name] = value
    band = request.args.get("age_band", "")
    if band.isdigit():
        stmt = stmt.where(Monitor.age_band == int(band))
        filters["age_band"] = band
    page = max(
        int(request.args.get("page", "1")) if request.args.get("page", "1").isdigit() else 1, 1
    )
    total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    monitors = db.session.execute(
        stmt.order_by(Monitor.pseudonym).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).scalars()
    return render_template(
        "survey/staff_list.html",
        monitors=list(monitors),
        total=total,
        page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        filters=filters,
        districts=current_app.config["DISTRICTS"],
        ending=projects_near_end(),
    )


@bp.route("/<pseudonym>", methods=["GET", "POST"])
@role_required(RoleCode.STAFF)
def monitor_record(pseudonym: str) -> Any:
    monitor = db.session.execute(
        select(Monitor).where(Monitor.pseudonym == pseudonym)
    ).scalar_one_or_none()
    if monitor is None:
        return render_template("errors/404.html"), 404
    purposes = _staff_purposes()
    form = OpenRecordForm()
    form.purpose.choices = [("", _("Please choose"))] + [(p.code, _label(p)) for p in purposes]
    view = None
    refused = ""
    if form.validate_on_submit():
        views = access(
            form.purpose.data,
            _actor(),
            [monitor.pseudonym],
            form.reason.data or "",
            recipient=current_app.config["PRIVACY_STAFF_RECIPIENT"],
        )
        db.session.commit()
        if views:
            view = views[0]
        else:
            refused = _("This monitor has not agreed to this purpose, so nothing is shown.")
    return render_template(
        "survey/staff_record.html", monitor=monitor, form=form, view=view, refused=refused
    ), (422 if request.method == "POST" and form.errors else 200)


@bp.route("/export", methods=["GET", "POST"])
@role_required(RoleCode.STAFF)
def export() -> Any:
    purposes = active_purposes("consent")
    form = ExportForm()
    form.purpose.choices = [("", _("Please choose"))] + [(p.code, _label(p)) for p in purposes]
    lang = str(get_locale() or "ja")
    recipients = {
        r.code: (r.name_ja if lang == "ja" else r.name_en) for p in purposes for r in p.recipients
    }
    form.recipient.choices = [("", _("Please choose")), *sorted(recipients.items())]
    if form.validate_on_submit():
        purpose = next(p for p in purposes if p.code == form.purpose.data)
        if form.recipient.data not in {r.code for r in purpose.recipients}:
            form.recipient.errors.append(_("This purpose does not hand data to this recipient."))
        else:
            return _csv(purpose, form.recipient.data or "", form.reason.data or "")
    return render_template("survey/staff_export.html", form=form), (
        422 if request.method == "POST" else 200
    )


def _csv(purpose: Purpose, recipient: str, reason: str) -> Response:
    subjects = list(
        db.session.execute(
            select(Monitor.pseudonym).where(Monitor.status == "active").order_by(Monitor.pseudonym)
        ).scalars()
    )
    allowed = consenting_subjects(purpose, recipient, subjects)
    views = access(
        purpose.code,
        _actor(),
        [s for s in subjects if s in allowed],
        reason,
        recipient=recipient,
        action="export",
    )
    db.session.commit()
    labels = field_labels()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_("Monitor number"), *(labels[f] for f in purpose.fields)])
    for view in views:
        writer.writerow([view.subject, *(_cell(view[f]) for f in purpose.fields)])
    body = "\ufeff" + out.getvalue()
    filename = f"{purpose.code}-{recipient}.csv"
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _cell(value: str | None) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.route("/<pseudonym>/relink", methods=["GET", "POST"])
@role_required(RoleCode.STAFF)
def relink(pseudonym: str) -> Any:
    monitor = db.session.execute(
        select(Monitor).where(Monitor.pseudonym == pseudonym, Monitor.status == "active")
    ).scalar_one_or_none()
    if monitor is None:
        return render_template("errors/404.html"), 404
    form = RelinkForm()
    if form.validate_on_submit():
        file = request.files.get("certificate")
        data = file.read(20_000) if file else b""
        try:
            cert = services.certificate_identity(data)
            services.staff_relink(monitor, cert, actor=_actor(), reason=form.reason.data or "")
        except (services.SurveyError, PrivacyError) as err:
            db.session.rollback()
            flash(_("The certificate could not be linked: %(reason)s", reason=str(err)), "error")
        else:
            db.session.commit()
            flash(_("The new card is linked."), "success")
            return redirect(url_for("survey_staff.monitor_record", pseudonym=pseudonym))
    return render_template("survey/staff_relink.html", form=form, monitor=monitor), (
        422 if request.method == "POST" else 200
    )
