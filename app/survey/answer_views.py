"""Answering pages on the public site (/monitors/surveys/…): intro with the anonymity statement
and consent, JPKI step-up, one page at a time with server-side autosave, a confirmation page,
submit with a receipt code (a retry of the same form gets the same receipt), receipt check,
published results, unsubscribe, and the SNS member's choice to hear about surveys."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth.decorators import one_time_link
from app.extensions import db, limiter
from app.forms import EmptyForm
from app.i18n import _
from app.survey import answering, bp, identity, recruitment
from app.survey.answering import AlreadyAnswered, AnswerError
from app.survey.forms import SnsSurveysForm
from app.survey.questions import OTHER, is_visible
from app.survey.surveys_models import Invitation, RequestOptOut, Survey


def _survey_or_404(key: str) -> Survey:
    """A survey residents may know of: open or closed. A draft answers 404 like a missing key."""
    survey = answering.survey_by_key(key)
    if survey is None or survey.state() == "draft":
        abort(404)
    return survey


def _pages(survey: Survey, answers: dict[str, Any]) -> list[int]:
    """Pages with at least one question shown for these answers (branching hides pages)."""
    return sorted({q.page for q in survey.questions if is_visible(q, answers)})


def parse_form(survey: Survey, form: Any, page: int | None = None) -> dict[str, Any]:
    """The posted fields (`q_<key>`, `q_<key>__<n>`, `q_<key>__other`) as an answers dict.

    Fields naming no question of this page are kept under their own name, so validation
    refuses them (forged ids, other pages).
    """
    questions = {q.key: q for q in survey.questions if page is None or q.page == page}
    raw: dict[str, Any] = {}
    for name in form:
        if not name.startswith("q_"):
            continue
        base, _sep, part = name[2:].partition("__")
        q = questions.get(base)
        if q is None:
            raw[name[2:]] = form.get(name)
            continue
        if part == "other":
            raw[f"{base}__other"] = form.get(name, "")
            continue
        opts = q.options
        if q.type == "multiple":
            raw[base] = [v for v in form.getlist(name) if v]
        elif q.type == "matrix" and part.isdigit() and int(part) < len(opts["rows"]):
            if form.get(name):
                raw.setdefault(base, {})[opts["rows"][int(part)]] = form.get(name)
        elif q.type == "ranking" and part.isdigit() and int(part) < len(opts["choices"]):
            if form.get(name):
                raw.setdefault(f"{base}__places", {})[opts["choices"][int(part)]] = form.get(name)
        elif not part:
            raw[base] = form.get(name, "")
        else:
            raw[name[2:]] = form.get(name)
    for key in [k for k in raw if k.endswith("__places")]:
        places = raw.pop(key)
        base = key[: -len("__places")]
        try:
            ordered = sorted(places.items(), key=lambda item: int(item[1]))
            numbers = sorted(int(p) for p in places.values())
        except ValueError:
            raw[base] = ["?"]
            continue
        raw[base] = (
            [c for c, _p in ordered] if numbers == list(range(1, len(numbers) + 1)) else ["?"]
        )
    return raw


@bp.route("/surveys/", methods=["GET"])
def survey_list() -> str:
    surveys = list(db.session.execute(select(Survey).order_by(Survey.opens_at.desc())).scalars())
    return render_template(
        "survey/surveys_list.html",
        open_surveys=[s for s in surveys if s.is_open()],
        published=[s for s in surveys if s.results_published],
    )


@bp.route("/surveys/<key>", methods=["GET"])
def survey_intro(key: str) -> str:
    survey = _survey_or_404(key)
    respondent = identity.current_respondent()
    reason = ""
    state = "ready"
    try:
        answering.check_open(survey)
        answering.check_eligible(survey, respondent)
        row = answering.participation_for(survey, respondent)
        if row is not None and row.status == "submitted":
            state = "answered"
        elif row is not None:
            state = "resume"
    except AnswerError as err:
        reason, state = err.message, err.code
    return render_template(
        "survey/answer_intro.html",
        survey=survey,
        state=state,
        reason=reason,
        form=EmptyForm(),
        sns=answering.sns_open(survey),
    )


@bp.route("/surveys/<key>/jpki", methods=["GET"])
def survey_jpki(key: str) -> Any:
    """After the JPKI login: map the verified card to its monitor, back to the survey."""
    survey = _survey_or_404(key)
    cert = identity.verified_certificate() or identity.certificate_from_recent_challenge()
    if cert is None:
        return redirect(url_for("survey.survey_intro", key=survey.key))
    monitor = identity.remember_certificate(cert)
    db.session.commit()
    if monitor is None and identity.current_respondent() is None:
        return render_template("survey/not_registered.html", survey=survey)
    return redirect(url_for("survey.survey_intro", key=survey.key))


@bp.route("/r/<token>", methods=["GET"])
@one_time_link
def personal_link(token: str) -> Any:
    """The personal link of a request mail: leads to the survey (the token names no answer)."""
    row = db.session.execute(
        select(Invitation).where(Invitation.token == token)
    ).scalar_one_or_none()
    if row is None:
        abort(404)
    survey = db.session.get(Survey, row.survey_id)
    if survey is None:
        abort(404)
    return redirect(url_for("survey.survey_intro", key=survey.key))


def _refused(survey: Survey, err: AnswerError, status: int = 409) -> tuple[str, int]:
    template = "survey/answer_done.html" if isinstance(err, AlreadyAnswered) else None
    if template:
        return render_template(template, survey=survey, receipt=None, already=True), 409
    return render_template("survey/answer_refused.html", survey=survey, error=err), status


def _start_limit() -> str:
    """Anti-automation (A64): starts per client address, counted whatever the answer."""
    return str(current_app.config["SURVEY_START_LIMIT"])


@bp.route("/surveys/<key>/start", methods=["POST"])
@limiter.limit(_start_limit)
def survey_start(key: str) -> Any:
    survey = _survey_or_404(key)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        draft = answering.start(
            survey, identity.current_respondent(), consented=request.form.get("consent") == "yes"
        )
        db.session.commit()
    except AnswerError as err:
        db.session.rollback()
        return _refused(survey, err, 422 if err.code == "invalid" else 409)
    answers = answering.draft_answers(draft)
    pages = _pages(survey, answers)
    return redirect(url_for("survey.survey_page", key=key, page=min(draft.page, pages[-1])))


@bp.route("/surveys/<key>/page/<int:page>", methods=["GET", "POST"])
def survey_page(key: str, page: int) -> Any:
    survey = _survey_or_404(key)
    respondent = identity.current_respondent()
    try:
        answering.check_open(survey)
        token = request.form.get("draft") if request.method == "POST" else None
        if request.method == "POST" and not token:
            raise answering.DraftMismatch(_("Please reload the page and try again."))
        draft = answering.draft_for(survey, respondent, token)
    except AnswerError as err:
        db.session.rollback()
        return _refused(survey, err)
    answers = answering.draft_answers(draft)
    pages = _pages(survey, answers)
    if page not in pages:
        return redirect(url_for("survey.survey_page", key=key, page=pages[0]))
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        raw = parse_form(survey, request.form, page)
        try:
            errors = answering.save_page(survey, draft, page, raw)
        except AnswerError as err:
            db.session.rollback()
            return _refused(survey, err)
        if not errors:
            db.session.commit()
            answers = answering.draft_answers(draft)
            pages = _pages(survey, answers)
            later = [p for p in pages if p > page]
            earlier = [p for p in pages if p < page]
            if request.form.get("go") == "back" and earlier:
                return redirect(url_for("survey.survey_page", key=key, page=earlier[-1]))
            if later and request.form.get("go") != "save":
                return redirect(url_for("survey.survey_page", key=key, page=later[0]))
            if request.form.get("go") == "save":
                flash(_("Saved. You can continue later from the survey page."), "success")
                return redirect(url_for("survey.survey_page", key=key, page=page))
            return redirect(url_for("survey.survey_confirm", key=key))
        db.session.rollback()
        answers = {**answers, **raw}
    return render_template(
        "survey/answer_page.html",
        survey=survey,
        page=page,
        pages=pages,
        questions=[q for q in survey.questions if q.page == page and is_visible(q, answers)],
        answers=answers,
        errors=errors,
        draft=draft,
        form=EmptyForm(),
        other=OTHER,
    ), (422 if errors else 200)


@bp.route("/surveys/<key>/confirm", methods=["GET"])
def survey_confirm(key: str) -> Any:
    survey = _survey_or_404(key)
    try:
        answering.check_open(survey)
        draft = answering.draft_for(survey, identity.current_respondent())
    except AnswerError as err:
        return _refused(survey, err)
    answers = answering.draft_answers(draft)
    return render_template(
        "survey/answer_confirm.html",
        survey=survey,
        questions=[q for q in survey.questions if is_visible(q, answers)],
        answers=answers,
        draft=draft,
        form=EmptyForm(),
        other=OTHER,
    )


@bp.route("/surveys/<key>/submit", methods=["POST"])
def survey_submit(key: str) -> Any:
    survey = _survey_or_404(key)
    if not EmptyForm().validate_on_submit():
        abort(400)
    respondent = identity.current_respondent()
    token = request.form.get("draft") or ""
    try:
        if respondent is not None and answering.participation_for(survey, respondent) is None:
            raise answering.DraftMismatch(_("Please start the survey from its first page."))
        draft = answering.draft_for(survey, respondent, token) if respondent else None
        answers = answering.draft_answers(draft) if draft else {}
        receipt = answering.submit(survey, respondent, answers, draft_token=token)
        db.session.commit()
    except (AlreadyAnswered, answering.DraftMismatch, IntegrityError) as err:
        # DraftMismatch too: a retry racing the first submit can read the participation as
        # "started" and then find its draft deleted. A fresh transaction sees the first commit.
        db.session.rollback()
        first = answering.first_receipt(survey, respondent, token)
        if first is not None:  # a retry of the same form: the first result again
            return render_template(
                "survey/answer_done.html", survey=survey, receipt=first, already=False
            )
        if isinstance(err, IntegrityError):
            err = AlreadyAnswered(_("You have already answered this survey."))
        return _refused(survey, err, 409)
    except AnswerError as err:
        db.session.rollback()
        return _refused(survey, err, 422 if err.code == "invalid" else 409)
    return render_template("survey/answer_done.html", survey=survey, receipt=receipt, already=False)


@bp.route("/surveys/<key>/receipt", methods=["GET", "POST"])
def survey_receipt(key: str) -> Any:
    survey = _survey_or_404(key)
    form = EmptyForm()
    counted: dt.date | None = None
    checked = False
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        checked = True
        counted = answering.receipt_counted(survey, request.form.get("code", ""))
    return render_template(
        "survey/answer_receipt.html", survey=survey, form=form, checked=checked, counted=counted
    )


@bp.route("/surveys/<key>/results", methods=["GET"])
def published_results(key: str) -> Any:
    from app.survey import charts, results

    survey = _survey_or_404(key)
    if not survey.results_published:
        abort(404)
    data = results.results_for(survey)
    return render_template(
        "survey/results.html", survey=survey, data=data, charts=charts, staff=False
    )


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@one_time_link
def unsubscribe(token: str) -> Any:
    """One click from a request mail: stop survey requests for this monitor."""
    row = db.session.execute(
        select(Invitation).where(Invitation.token == token)
    ).scalar_one_or_none()
    if row is None:
        abort(404)
    form = EmptyForm()
    done = db.session.get(RequestOptOut, row.monitor_id) is not None
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        if not done:
            db.session.add(RequestOptOut(monitor_id=row.monitor_id))
            try:
                db.session.commit()
            except IntegrityError:  # a double click: the first one already unsubscribed
                db.session.rollback()
        done = True
    return render_template("survey/unsubscribe.html", form=form, done=done, token=token)


@bp.route("/sns-settings", methods=["GET", "POST"])
@login_required
def sns_settings() -> Any:
    """The member's own choice: hear about surveys open to SNS members and answer them."""
    # On a POST only the posted checkbox counts (an unticked box is simply absent).
    data = (
        None if request.method == "POST" else {"opt_in": recruitment.is_opted_in(current_user.id)}
    )
    form = SnsSurveysForm(data=data)
    if form.validate_on_submit():
        recruitment.set_opt_in(current_user, bool(form.opt_in.data))
        db.session.commit()
        flash(_("Your survey settings have been saved."), "success")
        return redirect(url_for("survey.sns_settings"))
    return render_template("survey/sns_settings.html", form=form)
