"""The one place that defines `_` and `_l` and chooses the user's language."""

from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user

_ = gettext
_l = lazy_gettext
_n = ngettext

LANG_COOKIE = "lang"


def select_locale() -> str:
    """Japanese first: the language cookie, then the member's saved choice, then Japanese."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in languages:
        return str(chosen)
    user = current_user._get_current_object() if current_user else None
    locale = getattr(user, "locale", None)
    if locale in languages:
        return str(locale)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def select_timezone() -> str:
    """Residents live in Japan: show Japan time."""
    return str(current_app.config["BABEL_DEFAULT_TIMEZONE"])
