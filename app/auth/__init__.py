"""Accounts: password login, invitations, email tokens, sessions, roles, JPKI (in `jpki/`)."""

from flask import Blueprint

bp = Blueprint("auth", __name__, template_folder="templates", url_prefix="/auth")

from app.auth import jpki_views, second_factor_views, views  # noqa: E402,F401  (routes register on import)


def register(app: object) -> None:
    """Add the demo card binding to the demo town (once per process)."""
    from app.auth.demo import bind_demo_card
    from app.sample.demo import DEMO_STEPS

    if bind_demo_card not in DEMO_STEPS:
        DEMO_STEPS.append(bind_demo_card)
