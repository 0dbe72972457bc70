"""End-to-end fixtures: a live server on a free loopback port and Debian's Chromium.

Playwright's own browser download does not work here, so the browser is Debian's
`/usr/bin/chromium`, launched through Playwright's sync API with `executable_path` by the
session's `browser` fixture in tests/conftest.py (shared with tests/a11y). A missing browser is
an error, not a skip.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The live site runs with CSRF on, as in production."""
    app_config["WTF_CSRF_ENABLED"] = True
    return app_config


def closing_search_readers(wsgi_app: Any) -> Any:
    """The search backend keeps an open index reader per thread, for the next request of a
    long-lived worker thread. This server starts a thread per request, so close the reader when
    the request ends instead of leaving its files to the garbage collector (ResourceWarning)."""

    def serve(environ: Any, start_response: Any) -> Any:
        from app.search.whoosh_backend import close_thread_searchers

        try:
            return wsgi_app(environ, start_response)
        finally:
            close_thread_searchers()

    return serve


class LiveServer:
    def __init__(self, app: Flask) -> None:
        app.wsgi_app = closing_search_readers(app.wsgi_app)  # type: ignore[method-assign]
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        app.config["SERVER_BASE_URL"] = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served on 127.0.0.1 at a free port; yields its base URL."""
    with LiveServer(app) as server:
        yield server.url


@pytest.fixture
def browser_page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own browser context (own cookies), Japanese locale."""
    context = browser.new_context(locale="ja-JP", viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()
