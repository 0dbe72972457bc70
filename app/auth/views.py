"""Account pages. Thin: validate the form, call a service, commit, respond."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.auth import bp
from app.auth.decorators import one_time_link
from app.auth.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    DeleteAccountForm,
    ForgotPasswordForm,
    InviteForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
)
from app.auth.models import Invitation, TokenPurpose, User
from app.auth.second_factor import needs_second_factor, second_factor_url
from app.auth.services import (
    AuthError,
    authenticate,
    change_password,
    confirm_email,
    confirm_email_change,
    create_invitation,
    delete_account,
    email_key,
    invitations_left,
    load_invitation,
    peek_token,
    register_from_invitation,
    register_open,
    request_email_change,
    request_password_reset,
    reset_password,
)
from app.extensions import db, limiter
from app.forms import EmptyForm
from app.i18n import _, select_locale
from app.logging_setup import log_event
from app.sessions import WebSession, current_sid_hash, end_user_sessions, rotate_session
from app.urls import safe_next

HOME = "site.home"


def _login_account_key() -> str:
    return "login-account:" + email_key(request.form.get("email", ""))[:254]


def _login_ip_limit() -> str:
    return str(current_app.config["LOGIN_LIMIT_PER_IP"])


def _login_account_limit() -> str:
    return str(current_app.config["LOGIN_LIMIT_PER_ACCOUNT"])


def _mail_limit() -> str:
    return str(current_app.config["MAIL_LIMIT_PER_IP"])


def _failed(response: Response) -> bool:
    return response.status_code != 302


def _field_error(form: Any, err: AuthError) -> None:
    if err.field and err.field in form:
        form[err.field].errors.append(err.message)
    else:
        g.form_error = err.message


def start_session(user: User, *, remember: bool) -> None:
    """Log a member in on a fresh session id (A16)."""
    rotate_session(remember=remember)
    login_user(user)
    session["auth_at"] = user.last_login_at.isoformat() if user.last_login_at else ""
    log_event(
        "auth.login",
        "success",
        "login ok user=%s method=password",
        user.id,
        obj=f"user:{user.id}",
        method="password",
    )


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_ip_limit, methods=["POST"])
@limiter.limit(
    _login_account_limit, key_func=_login_account_key, methods=["POST"], deduct_when=_failed
)
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = authenticate(form.email.data or "", form.password.data or "")
        except AuthError as err:
            log_event("auth.login", "failure", "login failed method=password", method="password")
            g.form_error = err.message
        else:
            db.session.commit()
            start_session(user, remember=bool(form.remember.data))
            target = safe_next(form.next.data, url_for(HOME))
            if needs_second_factor(user):  # A08: the second step comes next
                return redirect(second_factor_url(target))
            return redirect(target)
    status = 200 if request.method == "GET" or not g.get("form_error") else 401
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    if current_user.is_authenticated:
        log_event(
            "auth.logout",
            "success",
            "logout user=%s",
            current_user.id,
            obj=f"user:{current_user.id}",
        )
    logout_user()
    session.clear()
    rotate_session(remember=False)  # the old id's row is deleted; a new one carries the notice
    flash(_("You have logged out."), "info")
    return redirect(url_for(HOME))


@bp.route("/invite/<token>", methods=["GET", "POST"])
@one_time_link
def accept_invitation(token: str) -> Any:
    try:
        invitation = load_invitation(token)
    except AuthError as err:
        return _link_problem(err)
    form = RegisterForm()
    if request.method == "GET":
        form.email.data = invitation.email
    if form.validate_on_submit():
        try:
            user = register_from_invitation(
                invitation,
                email=form.email.data or "",
                handle=form.handle.data or "",
                display_name=form.display_name.data or "",
                password=form.password.data or "",
                locale=select_locale(),
            )
        except AuthError as err:
            _field_error(form, err)
        else:
            db.session.commit()
            if user.email_confirmed:
                start_session(user, remember=False)
                flash(_("Welcome to Sankaku! Your account is ready."), "success")
                return redirect(url_for(HOME))
            return render_template("auth/check_email.html", email=user.email)
    return render_template("auth/register.html", form=form, invitation=invitation)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_mail_limit, methods=["POST"])
def register() -> Any:
    if not current_app.config["REGISTRATION_OPEN"]:
        abort(404)
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = register_open(
                email=form.email.data or "",
                handle=form.handle.data or "",
                display_name=form.display_name.data or "",
                password=form.password.data or "",
                locale=select_locale(),
            )
        except AuthError as err:
            _field_error(form, err)
        else:
            db.session.commit()
            return render_template("auth/check_email.html", email=user.email)
    return render_template("auth/register.html", form=form, invitation=None)


def _link_problem(err: AuthError) -> tuple[str, int]:
    return render_template("auth/link_problem.html", message=err.message), 410


def _one_time_link(
    token: str,
    purpose: TokenPurpose,
    use: Callable[[str], object],
    *,
    title: str,
    button: str,
    done: str,
    done_url: str,
) -> Any:
    """A link from an email: GET shows a button; only the POST uses the token.

    Mail scanners follow GET links (R09), so a GET never spends a one-time token.
    """
    try:
        peek_token(token, purpose)
    except AuthError as err:
        return _link_problem(err)
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            use(token)
        except AuthError as err:
            return _link_problem(err)
        db.session.commit()
        flash(done, "success")
        return redirect(done_url)
    return render_template("auth/confirm_link.html", form=form, title=title, button=button)


@bp.route("/confirm/<token>", endpoint="confirm_email", methods=["GET", "POST"])
@one_time_link
def confirm_email_view(token: str) -> Any:
    return _one_time_link(
        token,
        TokenPurpose.CONFIRM_EMAIL,
        confirm_email,
        title=_("Confirm your email address"),
        button=_("Confirm my email address"),
        done=_("Thank you. Your email address is confirmed; you can log in now."),
        done_url=url_for("auth.login"),
    )


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(_mail_limit, methods=["POST"])
def forgot_password() -> Any:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        request_password_reset(form.email.data or "")
        db.session.commit()
        # The same answer whether or not the address has an account.
        return render_template("auth/forgot_sent.html")
    return render_template("auth/forgot.html", form=form)


@bp.route("/reset/<token>", endpoint="reset_password", methods=["GET", "POST"])
@one_time_link
def reset_password_view(token: str) -> Any:
    try:
        row = peek_token(token, TokenPurpose.RESET_PASSWORD)
    except AuthError as err:
        return _link_problem(err)
    form = ResetPasswordForm()
    form.password_owner = row.user  # the new password may not be their email or user name
    if form.validate_on_submit():
        try:
            user = reset_password(token, form.password.data or "")
        except AuthError as err:
            return _link_problem(err)
        db.session.commit()
        log_event(
            "auth.password_reset",
            "success",
            "password reset user=%s method=mail_link",
            user.id,
            obj=f"user:{user.id}",
            method="mail_link",
        )
        logout_user()
        session.clear()
        flash(_("Your password has been changed. Please log in."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form)


@bp.route("/email/confirm/<token>", endpoint="confirm_email_change", methods=["GET", "POST"])
@one_time_link
def confirm_email_change_view(token: str) -> Any:
    return _one_time_link(
        token,
        TokenPurpose.CHANGE_EMAIL,
        confirm_email_change,
        title=_("Confirm your new email address"),
        button=_("Use this email address"),
        done=_("Your email address has been changed."),
        done_url=url_for("auth.settings" if current_user.is_authenticated else HOME),
    )


# --- account settings ------------------------------------------------------------------------


@bp.route("/settings")
@login_required
def settings() -> str:
    return render_template("auth/settings.html")


@bp.route("/settings/password", methods=["GET", "POST"])
@login_required
def settings_password() -> Any:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            change_password(
                current_user,
                form.current_password.data or "",
                form.password.data or "",
                keep_sid_hash=current_sid_hash(),
                logout_others=bool(form.logout_others.data),
            )
        except AuthError as err:
            _field_error(form, err)
        else:
            db.session.commit()
            rotate_session()
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("auth.settings"))
    return render_template("auth/settings_password.html", form=form)


@bp.route("/settings/email", methods=["GET", "POST"])
@login_required
@limiter.limit(_mail_limit, methods=["POST"])
def settings_email() -> Any:
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            request_email_change(current_user, form.password.data or "", form.email.data or "")
        except AuthError as err:
            _field_error(form, err)
        else:
            db.session.commit()
            return render_template("auth/check_email.html", email=form.email.data)
    return render_template("auth/settings_email.html", form=form)


@bp.route("/settings/delete", methods=["GET", "POST"])
@login_required
def settings_delete() -> Any:
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            delete_account(current_user, form.password.data or "")
        except AuthError as err:
            _field_error(form, err)
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash(_("Your account has been deleted. Thank you for taking part."), "info")
            return redirect(url_for(HOME))
    return render_template("auth/settings_delete.html", form=form)


def session_handle(id_hash: str) -> str:
    """A public handle for a stored session (the stored key itself is never shown)."""
    return hashlib.sha256(id_hash.encode()).hexdigest()[:20]


@bp.route("/sessions")
@login_required
def sessions() -> str:
    rows = db.session.execute(
        select(WebSession)
        .where(WebSession.user_id == current_user.id)
        .order_by(WebSession.last_seen_at.desc())
    ).scalars()
    mine = current_sid_hash()
    items = [
        {
            "handle": session_handle(row.id_hash),
            "current": row.id_hash == mine,
            "user_agent": row.user_agent,
            "created_at": row.created_at,
            "last_seen_at": row.last_seen_at,
        }
        for row in rows
    ]
    return render_template("auth/sessions.html", items=items, form=EmptyForm())


@bp.route("/sessions/<handle>/end", methods=["POST"])
@login_required
def end_session(handle: str) -> Response:
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    rows = db.session.execute(
        select(WebSession).where(WebSession.user_id == current_user.id)
    ).scalars()
    for row in rows:
        if session_handle(row.id_hash) == handle:
            db.session.delete(row)
            db.session.commit()
            flash(_("That session has been logged out."), "info")
            return redirect(url_for("auth.sessions"))
    abort(404)


@bp.route("/sessions/end-others", methods=["POST"])
@login_required
def end_other_sessions() -> Response:
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    count = end_user_sessions(current_user.id, except_sid_hash=current_sid_hash())
    db.session.commit()
    flash(_("Logged out on %(n)d other devices.", n=count), "info")
    return redirect(url_for("auth.sessions"))


@bp.route("/invitations", methods=["GET", "POST"])
@login_required
@limiter.limit(_mail_limit, methods=["POST"])
def invitations() -> Any:
    form = InviteForm()
    if form.validate_on_submit():
        try:
            create_invitation(
                current_user,
                form.email.data or "",
                message=form.message.data or "",
                locale=select_locale(),
            )
        except AuthError as err:
            _field_error(form, err)
        else:
            db.session.commit()
            flash(_("Your invitation has been sent."), "success")
            return redirect(url_for("auth.invitations"))
    sent = db.session.execute(
        select(Invitation)
        .where(Invitation.inviter_id == current_user.id)
        .order_by(Invitation.created_at.desc())
        .limit(50)
    ).scalars()
    return render_template(
        "auth/invitations.html", form=form, sent=list(sent), left=invitations_left(current_user)
    )
