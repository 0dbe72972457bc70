"""Regional SNS: profiles, friends, diaries, comments, messages, footprints, blocks,
notifications and reports. Visibility rules live in `app.permissions`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

bp = Blueprint("sns", __name__, template_folder="templates")

from app.sns import views  # noqa: E402  (routes register on import)

DEFAULTS = {
    "SNS_MESSAGE_LIMIT": "10 per minute; 200 per day",
    "SNS_FRIEND_REQUEST_LIMIT": "10 per minute; 100 per day",
    "SNS_POST_LIMIT": "10 per minute; 300 per day",
    "SNS_REPORT_LIMIT": "5 per minute; 50 per day",
    "SNS_AVATAR_PX": 512,
    "SNS_DIARY_IMAGE_PX": 1024,
    "SNS_UPLOAD_DIR": None,
}


def register(app: Flask) -> None:
    """Settings, template helpers, CLI, sample-data sections and demo steps (idempotent)."""
    from app import permissions
    from app.sns import cli, sample

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    permissions.init_app(app)
    sample.register_sample_hooks()
    if "sns" not in app.cli.commands:
        app.cli.add_command(cli.sns_cli)
    # Runs after the site-wide security headers (after-request functions run last-first).
    funcs = app.after_request_funcs.setdefault(None, [])
    if views.image_headers not in funcs:
        funcs.insert(0, views.image_headers)

    app.jinja_env.globals.update(
        sns_unread=_unread_count, sns_timeline=_home_timeline, url_endpoints=app.view_functions
    )
    from app.sns.services import notification_text

    app.jinja_env.globals["sns_notification_text"] = notification_text
    app.jinja_env.filters.update(
        sns_datetime=_format_datetime, sns_excerpt=_excerpt, sns_render=_render
    )


def _home_timeline(user: Any) -> Any:
    from app.sns.services import timeline

    return timeline(user, None, limit=20)


def _format_datetime(value: Any) -> str:
    """Japan time as 2026/04/29 14:05: readable in both languages, and cheap on long lists."""
    from app.sns.services import JST

    return str(value.astimezone(JST).strftime("%Y/%m/%d %H:%M"))


def _excerpt(text: str) -> str:
    from app.sns.text import excerpt

    return excerpt(text)


def _render(text: str, body_format: str) -> Any:
    from app.sns.text import render_body

    return render_body(text, body_format)


def _unread_count() -> int:
    from flask import g
    from flask_login import current_user

    from app.sns.services import unread_notifications

    if not current_user.is_authenticated:
        return 0
    if "sns_unread" not in g:
        g.sns_unread = unread_notifications(current_user)
    return int(g.sns_unread)
