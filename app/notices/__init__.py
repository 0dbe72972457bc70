"""Announcements (お知らせ) and versioned site pages: terms of use, privacy policy, guidelines.

`register(app)` adds the terms gate (a member who has not accepted the current terms is sent to
the accept page from every page but a few), the template helpers for the home page and the
footer, the registration hook and the demo step.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

bp = Blueprint("notices", __name__, template_folder="templates")

from app.notices import views  # noqa: E402,F401  (routes register on import)

# Pages a member who has not accepted the current terms may still reach.
TERMS_EXEMPT = frozenset(
    {
        "notices.terms_accept",
        "notices.terms_decline",
        "notices.site_page",
        "auth.logout",
        "site.set_language",
        "site.healthz",
    }
)


def terms_gate() -> Response | None:
    """Send a logged-in member to the accept page until they accept the current terms."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in TERMS_EXEMPT or endpoint.endswith("static"):
        return None
    if not current_user.is_authenticated:
        return None
    from app import JSON_PREFIXES

    if request.path.startswith(JSON_PREFIXES):
        return None
    from app.notices.services import terms_to_accept

    if terms_to_accept(current_user) is None:
        return None
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("notices.terms_accept", next=target), code=303)


def _home_announcements(viewer: Any) -> list[Any]:
    from app.notices.services import announcements_for

    return announcements_for(viewer, limit=5)


def _site_page_links() -> list[tuple[str, str]]:
    """(label, url) for the footer: every page that has a current version (one query)."""
    from app.notices.models import PageKind
    from app.notices.services import written_kinds

    pages = written_kinds()
    return [
        (kind.label, url_for("notices.site_page", kind=kind.value))
        for kind in PageKind
        if kind in pages
    ]


def _render_notice(text: str) -> Any:
    from app.sns.text import render_markdown

    return render_markdown(text)


def _date(value: Any) -> str:
    """Japan's date and time, 2026/04/29 14:05."""
    from app.notices.services import JST

    return str(value.astimezone(JST).strftime("%Y/%m/%d %H:%M"))


def _excerpt(text: str, length: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


def _epoch() -> Any:
    import datetime as dt

    return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _on_registered(sender: Any, **_extra: Any) -> None:
    from app.notices.services import accept_current_terms

    accept_current_terms(sender)


def register(app: Flask) -> None:
    """Terms gate, template helpers, registration hook and demo step (idempotent)."""
    from app.auth.services import user_registered
    from app.notices import sample

    if "notices" in app.blueprints:
        funcs = app.before_request_funcs.setdefault(None, [])
        if terms_gate not in funcs:
            funcs.append(terms_gate)
    from app.notices.services import today_jst

    app.jinja_env.globals.update(
        home_announcements=_home_announcements,
        site_page_links=_site_page_links,
        notice_today=today_jst,
        notice_epoch=_epoch,
    )
    app.jinja_env.filters.update(
        notice_render=_render_notice, notice_date=_date, notice_excerpt=_excerpt
    )
    user_registered.connect(_on_registered)  # blinker keeps one connection per receiver
    sample.register_sample_hooks()
