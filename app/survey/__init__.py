"""Surveys. This package holds the monitor panel so far: registration on the public site,
self-service after JPKI login, and (in `app.survey.staff`) the staff screens of the internal
server. Personal data lives only in the vault (`app.privacy`)."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_login import user_logged_in

bp = Blueprint("survey", __name__, template_folder="templates", url_prefix="/monitors")

from app.survey import answer_views, views  # noqa: E402,F401  (routes register on import)


def register(app: Flask) -> None:
    """Intake handlers, retention hook, sample section and demo step, CLI (idempotent)."""
    from app.privacy.retention import PURGE_HOOKS
    from app.survey import (
        intake,
        recruitment,
        sample,
        services,
        surveys_sample,
        template_helpers,
    )
    from app.survey.cli import survey_cli
    from app.survey.surveys_cli import add_commands

    intake.register_handlers()
    if services.purge_monitors not in PURGE_HOOKS:
        PURGE_HOOKS.append(services.purge_monitors)
    sample.register_sample_hooks()
    surveys_sample.register_sample_hooks()
    template_helpers.install(app)
    recruitment.register_notification()
    user_logged_in.connect(recruitment.remember_choice)  # idempotent: one receiver
    add_commands(survey_cli)
    if "survey" not in app.cli.commands:
        app.cli.add_command(survey_cli)
