"""Accounts: password login, invitations, email tokens, sessions, roles, JPKI (in `jpki/`)."""

from flask import Blueprint

bp = Blueprint("auth", __name__, template_folder="templates", url_prefix="/auth")

from app.auth import jpki_views, views  # noqa: E402,F401  (routes register on import)
