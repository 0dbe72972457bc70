"""NPO moderation: the report queue, hide/restore, warnings, suspensions, the append-only
moderation log, appeals, invitations oversight, the dashboard and the word filter.

Other packages plug in through `content.register_content_kind` (what can be reported and
hidden), `log.record_action` (their own moderation actions), `wordfilter.screen` (hold new
content for review) and `hooks.register_pending_count` (dashboard figures).
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("moderation", __name__, template_folder="templates")


def register(app: Flask) -> None:
    """Register the SNS's content kinds (idempotent)."""
    from app.moderation.sns_kinds import register_sns_kinds

    register_sns_kinds()
