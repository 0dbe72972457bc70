"""Home page, language preference, health check."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from app.extensions import db
from app.i18n import LANG_COOKIE
from app.mail.models import MailStatus, OutboxMessage
from app.site import bp
from app.urls import safe_next


@bp.route("/")
def home() -> str:
    return render_template("site/home.html")


@bp.route("/lang/<code>")
def set_language(code: str) -> Response:
    """Remember the display language in a cookie. It changes no stored data."""
    if code not in current_app.config["LANGUAGES"]:
        code = current_app.config["BABEL_DEFAULT_LOCALE"]
    response = redirect(safe_next(request.args.get("next"), url_for("site.home")))
    response.set_cookie(
        LANG_COOKIE,
        code,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
    )
    return response


def _check_database(bind: str | None) -> str:
    try:
        engine = db.engines[bind]
    except KeyError:
        return "absent"
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return "down"
    return "ok"


def _check_search() -> str:
    """Return "ok" when the search index answers and is current, "degraded" on fallback."""
    if "search" not in current_app.blueprints:
        return "absent"
    from app.search.service import health

    return health()


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    """200 with each dependency's state while the main database answers; 503 when it does not."""
    checks: dict[str, Any] = {
        "database": _check_database(None),
        "vault": _check_database("pii"),
        "search": _check_search(),
        "role": current_app.config["APP_ROLE"],
    }
    if checks["database"] == "ok":
        try:
            pending = db.session.execute(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.status == MailStatus.PENDING.value
                )
            ).scalar_one()
            checks["mail"] = {"pending": int(pending)}
        except SQLAlchemyError:
            checks["mail"] = "down"
    ok = checks["database"] == "ok" and checks["vault"] in ("ok", "absent")
    checks["status"] = "ok" if ok else "down"
    return jsonify(checks), 200 if ok else 503
