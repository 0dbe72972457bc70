"""JPKI login pages and the card client's JSON endpoints."""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_login import current_user, login_required, login_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from app.auth import bp
from app.auth.forms import JpkiBindForm
from app.auth.jpki.login import challenge_json, decode_login_response
from app.auth.jpki.proxy import ProxyHeaderError, certificate_from_proxy_header
from app.auth.jpki.reasons import reason_text
from app.auth.jpki.verify import verify_certificate
from app.auth.jpki_web import (
    SESSION_UNBOUND,
    Completion,
    JpkiFlowError,
    answer_challenge,
    bind_certificate,
    cert_key,
    challenge_by_code,
    complete_challenge,
    jpki_settings,
    mark_verified,
    poll_state,
    site_origin,
    start_challenge,
)
from app.auth.models import CertificateBinding, JpkiChallenge
from app.auth.passwords import verify_password
from app.db import utcnow
from app.extensions import csrf, db, limiter
from app.forms import EmptyForm
from app.i18n import _
from app.logging_setup import log_event
from app.sessions import rotate_session
from app.urls import safe_next


def reason_message(reason: str) -> str:
    """The resident-facing text for a reason code, in the page's language."""
    local = {
        "already_bound": _("This card is already linked to another account."),
        "bound_here": _("This card is already linked to your account."),
        "pending": _("The card has not signed yet. Follow the steps on this page."),
        "not_bound": _(
            "This card is not linked to an account yet. Log in with your password first, "
            "then link the card in your settings."
        ),
    }
    if reason in local:
        return local[reason]
    text = reason_text(reason)
    if text is None:
        return _("The card login could not be completed. Please start again.")
    return text.for_locale(str(get_locale() or "ja"))


def _jpki_limit() -> str:
    return str(current_app.config["JPKI_LIMIT"])


@bp.route("/jpki", methods=["GET"])
def jpki_login() -> str:
    """Start page: explains the card login and offers the button that creates a challenge."""
    return render_template(
        "auth/jpki_login.html",
        form=EmptyForm(),
        next=safe_next(request.args.get("next"), ""),
        bindings=_my_bindings(),
    )


@bp.route("/jpki/start", methods=["POST"])
@limiter.limit(_jpki_limit)
def jpki_start() -> Response:
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    purpose = "step_up" if current_user.is_authenticated else "login"
    start_challenge(purpose, safe_next(request.form.get("next"), ""))
    db.session.commit()
    return redirect(url_for("auth.jpki_wait"))


@bp.route("/jpki/wait", methods=["GET"])
def jpki_wait() -> Any:
    state = poll_state()
    if state.state == "none":
        return redirect(url_for("auth.jpki_login"))
    challenge_id = session.get("jpki_challenge_id")
    row = db.session.get(JpkiChallenge, challenge_id)
    assert row is not None  # noqa: S101 - poll_state found it
    base = str(current_app.config["SERVER_BASE_URL"]).rstrip("/")
    return render_template(
        "auth/jpki_wait.html",
        code=row.code,
        command=f"sankaku-card login {base} {row.code}",
        expires_at=row.expires_at,
        state=state,
        message=reason_message(state.reason) if state.reason else "",
        form=EmptyForm(),
    )


@bp.route("/jpki/poll", methods=["GET"])
def jpki_poll() -> Response:
    """JSON for the waiting page's script: pending, verified, failed (with text) or expired."""
    state = poll_state()
    body: dict[str, Any] = {"state": state.state}
    if state.reason:
        body["reason"] = state.reason
        body["message"] = reason_message(state.reason)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/jpki/complete", methods=["POST"])
def jpki_complete() -> Any:
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        done = complete_challenge()
    except JpkiFlowError as err:
        db.session.commit()
        if err.reason == "pending":
            flash(reason_message("pending"), "info")
            return redirect(url_for("auth.jpki_wait"))
        return render_template("auth/jpki_result.html", message=reason_message(err.reason)), 400
    db.session.commit()
    return _after_verification(done)


def _after_verification(done: Completion) -> Response:
    target = safe_next(done.next_url, url_for("site.home"))
    if done.user is not None:
        if current_user.is_authenticated and current_user.id != done.user.id:
            flash(_("This card belongs to another account. Log out first to use it."), "error")
            return redirect(url_for("auth.jpki_login"))
        step_up = current_user.is_authenticated  # the same member confirming with the card
        rotate_session()
        login_user(done.user)
        mark_verified(done)
        log_event(
            "auth.step_up" if step_up else "auth.login",
            "success",
            "login ok user=%s method=jpki",
            done.user.id,
            obj=f"user:{done.user.id}",
            method="jpki",
        )
        flash(_("Your My Number Card has been confirmed."), "success")
        return redirect(target)
    if current_user.is_authenticated:
        session[SESSION_UNBOUND] = {
            "cert_key": done.cert_key,
            "serial_hint": done.serial_hint,
            "not_after": done.not_after.isoformat() if done.not_after else utcnow().isoformat(),
        }
        rotate_session()
        return redirect(url_for("auth.jpki_bind", next=done.next_url or None))
    if target.startswith("/monitors/"):
        # Survey monitors need no SNS account: their own pages map the certificate.
        return redirect(target)
    log_event(
        "auth.login",
        "failure",
        "login refused method=jpki reason=not_bound",
        method="jpki",
        reason="not_bound",
    )
    return redirect(url_for("auth.jpki_unbound"))


@bp.route("/jpki/unbound", methods=["GET"])
def jpki_unbound() -> str:
    return render_template("auth/jpki_result.html", message=reason_message("not_bound"))


@bp.route("/jpki/bind", methods=["GET", "POST"])
@login_required
def jpki_bind() -> Any:
    pending = session.get(SESSION_UNBOUND)
    if not isinstance(pending, dict):
        return redirect(url_for("auth.jpki_login"))
    form = JpkiBindForm()
    if form.validate_on_submit():
        if not verify_password(current_user.password_hash, form.password.data or ""):
            form.password.errors.append(_("Your password is not correct."))
        else:
            try:
                bind_certificate(current_user, pending)
            except JpkiFlowError as err:
                session.pop(SESSION_UNBOUND, None)
                return render_template(
                    "auth/jpki_result.html", message=reason_message(err.reason)
                ), 409
            session.pop(SESSION_UNBOUND, None)
            done = Completion(current_user, pending["cert_key"], "", None, "", "bind")
            mark_verified(done)
            try:
                db.session.commit()
            except IntegrityError:  # another account bound the same card a moment ago
                db.session.rollback()
                message = reason_message("already_bound")
                return render_template("auth/jpki_result.html", message=message), 409
            rotate_session()
            flash(_("Your My Number Card is now linked to your account."), "success")
            return redirect(safe_next(request.args.get("next"), url_for("auth.jpki_login")))
    return render_template("auth/jpki_bind.html", form=form, pending=pending)


@bp.route("/jpki/bindings/<int:binding_id>/remove", methods=["POST"])
@login_required
def jpki_unbind(binding_id: int) -> Response:
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    binding = db.session.get(CertificateBinding, binding_id)
    if binding is None or binding.user_id != current_user.id:
        abort(404)
    db.session.delete(binding)
    db.session.commit()
    flash(_("The card has been unlinked from your account."), "info")
    return redirect(url_for("auth.jpki_login"))


def _my_bindings() -> list[CertificateBinding]:
    if not current_user.is_authenticated:
        return []
    return list(
        db.session.execute(
            select(CertificateBinding)
            .where(CertificateBinding.user_id == current_user.id)
            .order_by(CertificateBinding.created_at)
        ).scalars()
    )


# --- the card client's endpoints (JSON) ---------------------------------------------------------


@bp.route("/jpki/challenge/<code>", methods=["GET"])
@limiter.limit(_jpki_limit)
def jpki_challenge(code: str) -> Any:
    row = challenge_by_code(code[:20])
    if row is None:
        return jsonify(
            ok=False, reason="challenge_unknown", message=reason_message("challenge_unknown")
        ), 404
    from app.auth.jpki.login import Challenge

    payload = challenge_json(
        Challenge(row.id, bytes(row.nonce), row.origin, row.code, row.created_at, row.expires_at)
    )
    return jsonify(payload)


@bp.route("/jpki/response", methods=["POST"])
@csrf.exempt  # the card's signature over this server's single-use challenge is the proof
@limiter.limit(_jpki_limit)
def jpki_response() -> Any:
    try:
        challenge_id, certificate, signature = decode_login_response(request.get_json(silent=True))
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to parse
        return jsonify(ok=False, reason="malformed", message=reason_message("malformed")), 400
    result = answer_challenge(challenge_id, certificate, signature)
    db.session.commit()
    if not result.ok:
        log_event(
            "auth.jpki_answer",
            "denied",
            "jpki refused reason=%s",
            result.reason,
            method="jpki",
            reason=str(result.reason or "malformed"),
        )
        reason = result.reason or "malformed"
        return jsonify(ok=False, reason=reason, message=reason_message(reason)), 403
    return jsonify(ok=True)


@bp.route("/jpki/proxy", methods=["GET"])
def jpki_proxy_login() -> Any:
    """Second entry: a TLS proxy doing client-certificate authentication passes the
    certificate in a header; only configured proxy addresses are believed."""
    trusted = {str(a) for a in current_app.config["TRUSTED_PROXIES"]}
    if request.remote_addr not in trusted:
        abort(404)
    header = request.headers.get(current_app.config["JPKI_PROXY_CERT_HEADER"])
    try:
        der = certificate_from_proxy_header(header)
    except ProxyHeaderError:
        return render_template("auth/jpki_result.html", message=reason_message("malformed")), 400
    result = verify_certificate(der, "auth", utcnow(), jpki_settings())
    if not result.ok:
        message = reason_message(result.reason or "malformed")
        return render_template("auth/jpki_result.html", message=message), 403
    done = Completion(
        user=None,
        cert_key=cert_key(result.anchor_fingerprint or "", result.serial, result.spki_sha256 or ""),
        serial_hint=result.serial[-4:],
        not_after=result.certificate.not_valid_after_utc if result.certificate else None,
        next_url=safe_next(request.args.get("next"), ""),
        purpose="login",
    )
    binding = db.session.execute(
        select(CertificateBinding).where(CertificateBinding.cert_key == done.cert_key)
    ).scalar_one_or_none()
    if binding is not None and binding.user.is_active:
        done.user = binding.user
        binding.last_used_at = utcnow()
        db.session.commit()
    return _after_verification(done)


__all__ = ["reason_message", "site_origin"]
