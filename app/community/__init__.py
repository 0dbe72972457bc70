"""Communities (コミュニティ): members and roles, topics with posts, events, and the moderators'
approval page. Visibility rules live in `app.permissions` (a membership gate for secret ones)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("community", __name__, template_folder="templates")

from app.community import views  # noqa: E402,F401  (routes register on import)

DEFAULTS = {
    "COMMUNITY_CATEGORIES": "地域,子育て,防災,趣味,スポーツ,学び,福祉,その他",
    "COMMUNITY_IMAGE_PX": 1024,
    "COMMUNITY_POST_LIMIT": "10 per minute; 300 per day",
}


def register(app: Flask) -> None:
    """Settings, CLI, moderation kinds, search kinds, timeline source, sample hooks."""
    from app.community import cli, hooks

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if "community" not in app.cli.commands:
        app.cli.add_command(cli.community_cli)
    hooks.register_all(app)
