"""Survey staff screens (internal role, /staff/surveys): authoring, targeting and sample,
results (aggregates only, A30), free-text review and exports."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auth.decorators import role_required
from app.auth.models import RoleCode
from app.extensions import db
from app.forms import EmptyForm
from app.i18n import _
from app.survey import authoring, exports, results, targeting
from app.survey.authoring import SurveyInvalid
from app.survey.surveys_models import QUESTION_TYPES, Survey, SurveyLocked

bp = Blueprint("survey_admin", __name__, template_folder="templates", url_prefix="/staff/surveys")


def _survey(key: str) -> Survey:
    survey = db.session.execute(select(Survey).where(Survey.key == key)).scalar_one_or_none()
    if survey is None:
        abort(404)
    return survey


def _checked_form() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


def settings_from_form(form: Any) -> dict[str, Any]:
    return {
        "title": form.get("title", ""),
        "description": form.get("description", ""),
        "thank_you": form.get("thank_you", ""),
        "organiser": form.get("organiser", "city"),
        "anonymity": form.get("anonymity", "anonymous"),
        "opens_at": form.get("opens_at", ""),
        "closes_at": form.get("closes_at", ""),
        "k": form.get("k", "5"),
        "sample_size": form.get("sample_size", ""),
        "target": {
            "districts": form.getlist("districts"),
            "sexes": form.getlist("sexes"),
            "age_bands": form.getlist("age_bands"),
            "sns_members": form.get("audience") in ("sns", "both"),
            "monitors": form.get("audience") != "sns",
        },
    }


def question_from_form(form: Any) -> dict[str, Any]:
    lines = lambda name: [x.strip() for x in form.get(name, "").splitlines() if x.strip()]  # noqa: E731
    show_if = None
    if form.get("show_if_question"):
        show_if = {"question": form.get("show_if_question"), "equals": form.get("show_if_equals")}
    return {
        "key": form.get("key", ""),
        "type": form.get("type", ""),
        "text": form.get("text", ""),
        "help": form.get("help", ""),
        "required": form.get("required") == "y",
        "page": form.get("page", "1"),
        "show_if": show_if,
        "options": {
            "choices": lines("choices"),
            "rows": lines("rows"),
            "other": form.get("other") == "y",
            "display": form.get("display", "radio"),
            "min": form.get("min", ""),
            "max": form.get("max", ""),
            "max_length": form.get("max_length", ""),
            "long": form.get("long") == "y",
            "points": form.get("points", "5"),
            "integer": form.get("integer", "y") == "y",
        },
    }


@bp.route("/", methods=["GET"])
@role_required(RoleCode.STAFF)
def survey_index() -> str:
    surveys = db.session.execute(select(Survey).order_by(Survey.created_at.desc())).scalars()
    return render_template("survey/admin_list.html", surveys=list(surveys))


@bp.route("/new", methods=["GET", "POST"])
@role_required(RoleCode.STAFF)
def survey_new() -> Any:
    errors: dict[str, str] = {}
    if request.method == "POST":
        _checked_form()
        try:
            survey = authoring.create_survey(
                settings_from_form(request.form), created_by=current_user.id
            )
            db.session.commit()
            flash(_("Survey created. Now add its questions."), "success")
            return redirect(url_for("survey_admin.survey_edit", key=survey.key))
        except SurveyInvalid as err:
            db.session.rollback()
            errors = err.errors
    return render_template(
        "survey/admin_settings.html",
        survey=None,
        values=request.form,
        errors=errors,
        districts=current_app.config["DISTRICTS"],
        bands=targeting.AGE_BANDS,
        form=EmptyForm(),
    ), (422 if errors else 200)


@bp.route("/<key>", methods=["GET", "POST"])
@role_required(RoleCode.STAFF)
def survey_edit(key: str) -> Any:
    survey = _survey(key)
    errors: dict[str, str] = {}
    if request.method == "POST":
        _checked_form()
        try:
            authoring.update_survey(survey, settings_from_form(request.form))
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("survey_admin.survey_edit", key=key))
        except SurveyInvalid as err:
            db.session.rollback()
            errors = err.errors
        except SurveyLocked as err:
            db.session.rollback()
            errors = {"_form": str(err)}
    return render_template(
        "survey/admin_settings.html",
        survey=survey,
        values=request.form if request.method == "POST" else None,
        errors=errors,
        districts=current_app.config["DISTRICTS"],
        bands=targeting.AGE_BANDS,
        types=QUESTION_TYPES,
        form=EmptyForm(),
    ), (422 if errors else 200)


@bp.route("/<key>/questions", methods=["POST"])
@role_required(RoleCode.STAFF)
def question_add(key: str) -> Any:
    survey = _survey(key)
    _checked_form()
    try:
        authoring.add_question(survey, question_from_form(request.form))
        db.session.commit()
        flash(_("Question added."), "success")
    except (SurveyInvalid, SurveyLocked) as err:
        db.session.rollback()
        message = "; ".join(err.errors.values()) if isinstance(err, SurveyInvalid) else str(err)
        flash(
            message or _("The survey has opened: its questions and settings are locked."), "error"
        )
        return redirect(url_for("survey_admin.survey_edit", key=key)), 303
    return redirect(url_for("survey_admin.survey_edit", key=key))


@bp.route("/<key>/questions/<qkey>/<action>", methods=["POST"])
@role_required(RoleCode.STAFF)
def question_action(key: str, qkey: str, action: str) -> Any:
    survey = _survey(key)
    _checked_form()
    question = next((q for q in survey.questions if q.key == qkey), None)
    if question is None or action not in ("up", "down", "duplicate", "delete"):
        abort(404)
    try:
        if action in ("up", "down"):
            authoring.move_question(survey, question, -1 if action == "up" else 1)
        elif action == "duplicate":
            authoring.duplicate_question(survey, question)
        else:
            authoring.delete_question(survey, question)
        db.session.commit()
    except (SurveyInvalid, SurveyLocked):
        db.session.rollback()
        flash(_("The survey has opened: its questions and settings are locked."), "error")
    return redirect(url_for("survey_admin.survey_edit", key=key))


@bp.route("/<key>/preview", methods=["GET"])
@role_required(RoleCode.STAFF)
def survey_preview(key: str) -> str:
    from app.survey.questions import OTHER

    survey = _survey(key)
    return render_template("survey/admin_preview.html", survey=survey, other=OTHER)


@bp.route("/<key>/copy", methods=["POST"])
@role_required(RoleCode.STAFF)
def survey_copy(key: str) -> WerkzeugResponse:
    _checked_form()
    copy = authoring.copy_survey(_survey(key), created_by=current_user.id)
    db.session.commit()
    flash(_("Copied. Set the new period before it opens."), "success")
    return redirect(url_for("survey_admin.survey_edit", key=copy.key))


@bp.route("/<key>/sample", methods=["POST"])
@role_required(RoleCode.STAFF)
def survey_sample(key: str) -> WerkzeugResponse:
    survey = _survey(key)
    _checked_form()
    count = targeting.draw_sample(survey)
    db.session.commit()
    flash(
        _(
            "%(n)d monitors are targeted. Requests are sent by `flask survey send-requests`.",
            n=count,
        ),
        "success",
    )
    return redirect(url_for("survey_admin.survey_edit", key=key))


@bp.route("/<key>/announce", methods=["POST"])
@role_required(RoleCode.STAFF)
def survey_announce(key: str) -> WerkzeugResponse:
    """Notify the SNS members who opted in (open surveys for SNS members only)."""
    from app.survey.recruitment import announce, recruiting

    survey = _survey(key)
    _checked_form()
    if not recruiting(survey):
        flash(_("Only an open survey for SNS members can be announced."), "error")
        return redirect(url_for("survey_admin.survey_edit", key=key))
    count = announce(survey)
    db.session.commit()
    flash(_("%(n)d SNS members were notified.", n=count), "success")
    return redirect(url_for("survey_admin.survey_edit", key=key))


@bp.route("/<key>/publish", methods=["POST"])
@role_required(RoleCode.STAFF)
def survey_publish(key: str) -> WerkzeugResponse:
    survey = _survey(key)
    _checked_form()
    survey.results_published = request.form.get("published") == "y"
    survey.results_version = (survey.results_version or 0) + 1
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("survey_admin.staff_results", key=key))


@bp.route("/<key>/results", methods=["GET"])
@role_required(RoleCode.STAFF)
def staff_results(key: str) -> str:
    from app.survey import charts

    survey = _survey(key)
    return render_template(
        "survey/results.html",
        survey=survey,
        data=results.results_for(survey),
        charts=charts,
        staff=True,
    )


@bp.route("/<key>/results.<fmt>", methods=["GET"])
@role_required(RoleCode.STAFF)
def export_results(key: str, fmt: str) -> WerkzeugResponse:
    survey = _survey(key)
    if fmt not in ("csv", "json"):
        abort(404)
    return exports.download(survey, fmt)


@bp.route("/<key>/raw.csv", methods=["GET"])
@role_required(RoleCode.ADMIN)
def export_raw(key: str) -> WerkzeugResponse:
    """Raw answers for analysts (admins): anonymous surveys only, no identifier (A30)."""
    survey = _survey(key)
    if survey.anonymity != "anonymous":
        abort(404)
    response = WerkzeugResponse(
        exports.raw_csv(survey).encode("utf-8"), mimetype="text/csv; charset=utf-8"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="survey-{key}-raw.csv"'
    return response


@bp.route("/<key>/texts", methods=["GET", "POST"])
@role_required(RoleCode.STAFF)
def review_texts(key: str) -> Any:
    survey = _survey(key)
    if request.method == "POST":
        _checked_form()
        try:
            results.review_text(
                survey,
                request.form.get("response", ""),
                request.form.get("question", ""),
                request.form.get("decision", ""),
            )
        except (LookupError, ValueError):
            abort(404)
        db.session.commit()
        return redirect(url_for("survey_admin.review_texts", key=key))
    return render_template(
        "survey/admin_texts.html",
        survey=survey,
        texts=results.texts_for_review(survey),
        form=EmptyForm(),
    )
