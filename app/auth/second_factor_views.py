"""Second-factor pages (A08): the code page after the password, and authenticator enrolment."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.auth import bp
from app.auth.forms import TotpCodeForm
from app.auth.models import is_privileged
from app.auth.second_factor import (
    SecondFactorError,
    confirm_enrolment,
    group_secret,
    has_bound_card,
    mark_passed,
    passed,
    provisioning_uri,
    start_enrolment,
    totp_enabled,
    verify_code,
)
from app.extensions import db, limiter
from app.i18n import _
from app.logging_setup import log_event
from app.sessions import rotate_session
from app.urls import safe_next

HOME = "site.home"


def _account_key() -> str:
    return "second-factor:" + str(getattr(current_user, "id", None) or "guest")


def _account_limit() -> str:
    return str(current_app.config["SECOND_FACTOR_LIMIT_PER_ACCOUNT"])


def _ip_limit() -> str:
    return str(current_app.config["LOGIN_LIMIT_PER_IP"])


def _failed(response: Response) -> bool:
    return response.status_code != 302


def _next(form: TotpCodeForm) -> str:
    raw = form.next.data if request.method == "POST" else request.args.get("next")
    return safe_next(raw, url_for(HOME))


def _passed_now(method: str, target: str) -> Response:
    mark_passed(current_user, method)
    rotate_session()  # a new session id with the new privilege (A16)
    log_event(
        "auth.second_factor",
        "success",
        "second factor ok user=%s method=%s",
        current_user.id,
        method,
        obj=f"user:{current_user.id}",
        method=method,
    )
    return redirect(target)


def _refused(form: TotpCodeForm, err: SecondFactorError, step: str) -> None:
    log_event(
        "auth.second_factor",
        "failure",
        "second factor failed user=%s method=totp step=%s reason=%s",
        current_user.id,
        step,
        err.reason,
        obj=f"user:{current_user.id}",
        method="totp",
        step=step,
        reason=str(err.reason),
    )
    form.code.errors.append(err.message)


def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/second-factor", methods=["GET", "POST"])
@limiter.limit(_ip_limit, methods=["POST"])
@limiter.limit(_account_limit, key_func=_account_key, methods=["POST"], deduct_when=_failed)
@login_required
def second_factor() -> Any:
    """After the password: a code from the authenticator app, or the My Number Card."""
    form = TotpCodeForm()
    target = _next(form)
    if not is_privileged(current_user) or passed(current_user):
        return redirect(target)
    card = has_bound_card(current_user)
    totp = totp_enabled(current_user)
    if not totp and not card:
        return redirect(url_for("auth.second_factor_enrol", next=target))
    if request.method == "GET":
        form.next.data = target
    if totp and form.validate_on_submit():
        try:
            verify_code(current_user, form.code.data or "")
        except SecondFactorError as err:
            db.session.rollback()
            _refused(form, err, "login")
        else:
            db.session.commit()
            return _passed_now("totp", target)
    status = 401 if request.method == "POST" else 200
    page = render_template(
        "auth/second_factor.html", form=form, totp=totp, card=card, target=target
    )
    return _no_store(current_app.make_response((page, status)))


@bp.route("/second-factor/enrol", methods=["GET", "POST"])
@limiter.limit(_ip_limit, methods=["POST"])
@limiter.limit(_account_limit, key_func=_account_key, methods=["POST"], deduct_when=_failed)
@login_required
def second_factor_enrol() -> Any:
    """Set up an authenticator app: show the seed, confirm with a current code."""
    form = TotpCodeForm()
    target = _next(form)
    if not is_privileged(current_user):
        return redirect(target)
    if totp_enabled(current_user):
        return redirect(url_for("auth.second_factor", next=target))
    if has_bound_card(current_user) and not passed(current_user):
        # Password alone may not add an authenticator to an account whose card guards it.
        return redirect(url_for("auth.second_factor", next=target))
    if request.method == "GET":
        form.next.data = target
    status = 200
    if form.validate_on_submit():
        try:
            confirm_enrolment(current_user, form.code.data or "")
        except SecondFactorError as err:
            db.session.rollback()
            _refused(form, err, "enrol")
            status = 401
        else:
            db.session.commit()
            log_event(
                "auth.second_factor_enrol",
                "success",
                "second factor enrolled user=%s method=totp",
                current_user.id,
                obj=f"user:{current_user.id}",
                method="totp",
            )
            flash(_("Your authenticator app is set up."), "success")
            return _passed_now("totp", target)
    elif request.method == "POST":
        status = 400
    try:
        secret = start_enrolment(current_user)
    except SecondFactorError as err:
        flash(err.message, "error")
        return redirect(url_for("auth.second_factor", next=target))
    db.session.commit()
    page = render_template(
        "auth/second_factor_enrol.html",
        form=form,
        secret=group_secret(secret),
        uri=provisioning_uri(current_user, secret),
        target=target,
    )
    return _no_store(current_app.make_response((page, status)))
