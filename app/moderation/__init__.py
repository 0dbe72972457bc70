"""NPO moderation: the report queue, hide/restore, warnings, suspensions, the append-only
moderation log, appeals, invitations oversight, the dashboard and the word filter.

Other packages plug in through `content.register_content_kind` (what can be reported and
hidden), `log.record_action` (their own moderation actions), `wordfilter.screen` (hold new
content for review) and `hooks.register_pending_count` (dashboard figures).
"""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_login import user_logged_in

bp = Blueprint("moderation", __name__, template_folder="templates")

from app.moderation import views  # noqa: E402  (routes register on import)


def register(app: Flask) -> None:
    """Register the SNS's content kinds and, where the pages are served, the warning gate
    (idempotent)."""
    from app.moderation.sns_kinds import register_notification, register_sns_kinds

    register_sns_kinds()
    register_notification()
    from app.moderation.sample import register_sample_hooks

    register_sample_hooks()
    if "moderation" in app.blueprints:
        funcs = app.before_request_funcs.setdefault(None, [])
        if views.warning_gate not in funcs:
            funcs.append(views.warning_gate)
        user_logged_in.connect(views.on_login, app)
