"""Search: a Japanese analyzer, an index (Whoosh, or PostgreSQL for several app servers) with
each document's audience as terms, indexing after commit, and a database fallback.

GET /search?q=… is the page; `flask search rebuild|check` keep the index honest.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint(
    "search",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/search-static",
)

from app.search import views  # noqa: E402,F401  (routes register on import)

DEFAULTS = {
    "SEARCH_LOCK_TIMEOUT": 2.0,  # seconds a writer waits for the index lock before spooling
    "SEARCH_LIMIT": "60 per minute; 1000 per hour",  # searches per address
    "SEARCH_INDEXING": True,  # index after commit (off only for bulk loads followed by rebuild)
    # MB of postings `flask search rebuild` keeps in memory before sorting runs on disk (Whoosh):
    # lower it on a small server; a rebuild that spills to disk takes several times longer.
    "SEARCH_REBUILD_MEMORY_MB": 2048,
}


def register(app: Flask) -> None:
    """Settings, the after-commit hooks, the `flask search` commands, the search box flag."""
    from app.search import cli, indexing

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if app.config.get("SEARCH_BACKEND", "whoosh") not in ("whoosh", "postgres"):
        raise RuntimeError("SEARCH_BACKEND must be whoosh or postgres")
    indexing.install_hooks()
    if "search" not in app.cli.commands:
        app.cli.add_command(cli.search_cli)
    app.jinja_env.globals["site_search"] = app.config["APP_ROLE"] in ("all", "public")
